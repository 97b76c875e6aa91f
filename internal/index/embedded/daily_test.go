package embedded_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
)

func dayDocs(days int, perDay int, today time.Time) []index.Doc {
	var docs []index.Doc
	for d := range days {
		t := today.AddDate(0, 0, -d)
		for i := range perDay {
			id := fmt.Sprintf("d%d-%d", d, i)
			src := fmt.Sprintf(`{"@timestamp":%q,"message":"hello %d","data_stream":{"dataset":"app"},"event":{"id":%q}}`, t.Format(time.RFC3339Nano), i, id)
			docs = append(docs, index.Doc{ID: id, Time: t, Source: []byte(src), Fields: map[string]any{
				"@timestamp": t.Format(time.RFC3339Nano), "message": fmt.Sprintf("hello %d", i), "data_stream": map[string]any{"dataset": "app"}, "event": map[string]any{"id": id},
			}})
		}
	}
	return docs
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestDailyRetentionDropsOldDaysWhole: with a 3-day retention, the days
// before the day before yesterday go, whole; searches over what is left
// answer, and the disk use is reported.
func TestDailyRetentionDropsOldDaysWhole(t *testing.T) {
	ctx := context.Background()
	today := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "live")
	reg := prometheus.NewRegistry()
	d, err := embedded.OpenDaily(dir, embedded.DailyOptions{Retention: 3, Registerer: reg, Now: func() time.Time { return today }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Put(ctx, dayDocs(5, 10, today)); err != nil {
		t.Fatal(err)
	}
	if got := len(names(t, dir)); got != 5 {
		t.Fatalf("%d daily indices, want 5", got)
	}
	if err := d.Enforce(); err != nil {
		t.Fatal(err)
	}
	want := []string{"logs-app-2026.03.08", "logs-app-2026.03.09", "logs-app-2026.03.10"}
	if got := names(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if n, _ := d.Count(ctx); n != 30 {
		t.Fatalf("%d events kept, want 30", n)
	}
	res, err := d.Search(ctx, index.Request{From: today.AddDate(0, 0, -7), To: today.Add(time.Hour), Size: 5})
	if err != nil || res.Total != 30 || len(res.Hits) != 5 {
		t.Fatalf("search over a week: %v, %+v", err, res)
	}
	if v := gauge(t, reg, "hindsight_live_index_disk_bytes"); v <= 0 {
		t.Fatalf("disk bytes reported %v", v)
	}
	if v := gauge(t, reg, "hindsight_live_index_indices_dropped_total"); v != 2 {
		t.Fatalf("%v days reported dropped, want 2", v)
	}

	// Reopened, the kept days are found again.
	d.Close()
	d, err = embedded.OpenDaily(dir, embedded.DailyOptions{Retention: 3, Now: func() time.Time { return today }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n, _ := d.Count(ctx); n != 30 {
		t.Fatalf("%d events after reopening, want 30", n)
	}
}

// TestDailyDiskBoundDropsOldestDays: over the bound, the oldest days go
// until it fits; today's stays even alone over it.
func TestDailyDiskBoundDropsOldestDays(t *testing.T) {
	ctx := context.Background()
	today := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "live")
	d, err := embedded.OpenDaily(dir, embedded.DailyOptions{MaxBytes: 1, Now: func() time.Time { return today }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Put(ctx, dayDocs(3, 10, today)); err != nil {
		t.Fatal(err)
	}
	if err := d.Enforce(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); fmt.Sprint(got) != "[logs-app-2026.03.10]" {
		t.Fatalf("kept %v, want today's only", got)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
