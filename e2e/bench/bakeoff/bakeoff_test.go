// Package bakeoff measures embedded index engines on the same events in the
// same run: ingest rate, disk bytes per event, query latency (p50/p99) of a
// term + time range + histogram search and of a rare-term needle, and heap.
// It is its own Go module so the candidates' dependencies stay out of
// Hindsight's build; only the winner is a dependency of the main module.
//
//	cd e2e/bench/bakeoff && go test -run '^$' -bench . -benchtime 1x -events 200000
package bakeoff

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/event"
)

var (
	events  = flag.Int("events", 200000, "events per engine (nginx access lines over one day)")
	queries = flag.Int("queries", 50, "runs of each query")
)

// engine is one candidate: it ingests the events and answers the two
// searches the targets name.
type engine interface {
	ingest(evs []ev) error
	// termRangeHistogram: status 500 in a six-hour range, newest 50 hits and
	// a 60-bucket histogram; it returns the total.
	termRangeHistogram(from, to time.Time) (int64, error)
	// needle: a word in one message of the day, newest 50 hits.
	needle(word string, from, to time.Time) (int64, error)
	close() error
}

// remote is an engine whose data is not in the benchmark's directory.
type remote interface{ diskBytes() (int64, error) }

// errSkip: an engine the run did not ask for.
var errSkip = errors.New("skipped")

type ev struct {
	id, host, method, path, ip, ua, line string
	status, bytes                        int
	t                                    time.Time
	// src is the event's ECS JSON document, what every engine is fed (as
	// the live indexer gets it from the buffer).
	src []byte
}

var day = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const needleWord = "xyzzy7needle"

func gen(n int) []ev {
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/", "/api/users", "/api/orders", "/static/app.js", "/health", "/api/search", "/login", "/api/cart"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	statuses := []int{200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 404, 500, 502, 503}
	uas := []string{"curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "kube-probe/1.29", "Go-http-client/1.1"}
	out := make([]ev, n)
	for i := range out {
		e := ev{
			id:     fmt.Sprintf("%032x", uint64(i)*2654435761),
			host:   fmt.Sprintf("web-%d", i%4),
			method: methods[rng.IntN(len(methods))],
			path:   paths[rng.IntN(len(paths))] + fmt.Sprintf("/%d", rng.IntN(10000)),
			ip:     fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(256), rng.IntN(256)),
			ua:     uas[rng.IntN(len(uas))],
			status: statuses[rng.IntN(len(statuses))],
			bytes:  rng.IntN(50000),
			t:      day.Add(time.Duration(int64(i) * int64(24*time.Hour/time.Millisecond) / int64(n) * int64(time.Millisecond))), // i * 24 h in ns overflows past 106 751 events
		}
		if i == n*2/3 {
			e.path = "/api/" + needleWord
		}
		e.line = fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s"`, e.ip, e.t.Format("02/Jan/2006:15:04:05 -0700"), e.method, e.path, e.status, e.bytes, e.ua)
		e.src, _ = json.Marshal(map[string]any{
			"@timestamp":                event.FormatTime(e.t),
			"message":                   e.line,
			"data_stream":               map[string]any{"type": "logs", "dataset": "nginx.access", "namespace": "default"},
			"event":                     map[string]any{"id": e.id},
			"host":                      map[string]any{"name": e.host},
			"log":                       map[string]any{"offset": i * 120, "file": map[string]any{"path": "/var/log/nginx/access.log"}},
			"http.request.method":       e.method,
			"http.response.status_code": e.status,
			"http.response.body.bytes":  e.bytes,
			"url.path":                  e.path,
			"source.ip":                 e.ip,
			"user_agent.original":       e.ua,
		})
		out[i] = e
	}
	return out
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// gzBytesPerEvent is what the archive spends per event: the documents as
// gzip NDJSON, as the archiver writes them.
func gzBytesPerEvent(evs []ev) float64 {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, e := range evs {
		zw.Write(e.src)
		zw.Write([]byte{'\n'})
	}
	zw.Close()
	return float64(buf.Len()) / float64(len(evs))
}

func percentile(ds []time.Duration, p float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// run measures one engine on evs.
func run(b *testing.B, evs []ev, open func(dir string) (engine, error)) {
	dir := b.TempDir()
	e, err := open(dir)
	if errors.Is(err, errSkip) {
		b.Skip("not asked for")
	}
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	runtime.GC()
	start := time.Now()
	if err := e.ingest(evs); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	from, to := day.Add(12*time.Hour), day.Add(18*time.Hour)
	var trh, nd []time.Duration
	var total500, needles int64
	for range *queries {
		t0 := time.Now()
		if total500, err = e.termRangeHistogram(from, to); err != nil {
			b.Fatal(err)
		}
		trh = append(trh, time.Since(t0))
		t0 = time.Now()
		if needles, err = e.needle(needleWord, day, day.Add(24*time.Hour)); err != nil {
			b.Fatal(err)
		}
		nd = append(nd, time.Since(t0))
	}
	if total500 == 0 {
		b.Fatalf("no status 500 in range")
	}
	// An engine that misses the needle is reported, not dropped: finding
	// it is part of the result.
	b.ReportMetric(float64(needles), "needles-found")
	b.ReportMetric(float64(len(evs))/took.Seconds(), "ingest-ev/s")
	size := dirSize(dir)
	if r, ok := e.(remote); ok {
		if size, err = r.diskBytes(); err != nil {
			b.Fatal(err)
		}
	}
	disk := float64(size) / float64(len(evs))
	b.ReportMetric(disk, "disk-B/ev")
	b.ReportMetric(disk/gzBytesPerEvent(evs), "disk/gz-archive")
	b.ReportMetric(float64(percentile(trh, 0.5).Microseconds())/1000, "trh-p50-ms")
	b.ReportMetric(float64(percentile(trh, 0.99).Microseconds())/1000, "trh-p99-ms")
	b.ReportMetric(float64(percentile(nd, 0.5).Microseconds())/1000, "needle-p50-ms")
	b.ReportMetric(float64(percentile(nd, 0.99).Microseconds())/1000, "needle-p99-ms")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(total500), "hits-500")
}

func BenchmarkBakeoff(b *testing.B) {
	evs := gen(*events)
	for _, c := range []struct {
		name string
		open func(string) (engine, error)
	}{
		{"bleve-dynamic-mapping", openBleveDynamic},
		{"hindsight-embedded", openHindsightEmbedded},
		{"victorialogs", openVictoriaLogs},
		{"duckdb", openDuckDB},
		{"opensearch", openOpenSearch},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				run(b, evs, c.open)
			}
		})
	}
}
