package volume

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkObserve is the cost of counting one event (the feed's hot path).
func BenchmarkObserve(b *testing.B) {
	d, _ := New(Config{}, nil)
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	d.Tick(t0)
	b.ResetTimer()
	for i := range b.N {
		d.Observe("app", "api", "web-1", t0.Add(time.Duration(i%60)*time.Second), 1)
	}
}

// BenchmarkSeriesMemory is what one series holds once its baseline is full:
// a week of 1-minute buckets.
func BenchmarkSeriesMemory(b *testing.B) {
	for range b.N {
		const n = 20
		d, _ := New(Config{}, nil)
		t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for m := range 7*24*60 + 60 {
			at := t0.Add(time.Duration(m) * time.Minute)
			for s := range n {
				d.Observe(fmt.Sprintf("ds-%d", s), "", "", at, 10)
			}
		}
		d.Tick(t0.Add((7*24*60 + 61) * time.Minute))
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/series")
		runtime.KeepAlive(d)
	}
}
