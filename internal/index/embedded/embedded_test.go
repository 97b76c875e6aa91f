package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/metricset/metrictest"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

// dayDocs are perDay events on each of the days before today given.
func dayDocs(now time.Time, perDay int, daysAgo ...int) []index.Doc {
	var docs []index.Doc
	for _, d := range daysAgo {
		t := now.AddDate(0, 0, -d)
		for i := range perDay {
			docs = append(docs, doc(fmt.Sprintf("d%d-%d", d, i), t.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("hello %d", i)))
		}
	}
	return docs
}

func doc(id string, t time.Time, msg string) index.Doc {
	ts := t.UTC().Format(time.RFC3339Nano)
	src := fmt.Sprintf(`{"@timestamp":%q,"message":%q,"data_stream":{"dataset":"app"},"event":{"id":%q}}`, ts, msg, id)
	return index.Doc{ID: id, Time: t, Source: []byte(src), Fields: map[string]any{
		"@timestamp": ts, "message": msg, "data_stream": map[string]any{"dataset": "app"}, "event": map[string]any{"id": id},
	}}
}

func count(t *testing.T, ix index.Searcher) int64 {
	t.Helper()
	n, err := ix.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetentionDropsOldDaysWhole: with a 3-day retention, events older than
// three days are not indexed (and counted as refused), and days an index
// kept under a longer retention are dropped whole when it is reopened with
// a shorter one; the disk use and days are reported.
func TestRetentionDropsOldDaysWhole(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	dir := filepath.Join(t.TempDir(), "live")

	ix, err := embedded.OpenWith(dir, embedded.Options{Retention: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Put(ctx, dayDocs(now, 10, 0, 1, 6)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ix); n != 30 {
		t.Fatalf("%d events in a 10-day index, want 30", n)
	}
	ix.Close()

	reg := prometheus.NewRegistry()
	ix, err = embedded.OpenWith(dir, embedded.Options{Retention: 3, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	polltest.Until(t, "the day 6 days ago dropped", time.Minute, func() (bool, string) {
		n := count(t, ix)
		return n == 20, fmt.Sprintf("%d events", n)
	})
	if err := ix.Put(ctx, dayDocs(now, 10, 2, 5)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ix); n != 30 {
		t.Fatalf("%d events, want 30: today's, yesterday's and the day before's", n)
	}
	if v := metrictest.Sum(t, reg, "hindsight_live_index_events_refused_total", map[string]string{"reason": "too_old"}); v != 10 {
		t.Fatalf("%v events reported refused as too old, want the 10 of 5 days ago", v)
	}
	if v := metrictest.Sum(t, reg, "hindsight_live_index_days", nil); v != 3 {
		t.Fatalf("%v days reported, want 3", v)
	}
	if v := metrictest.Sum(t, reg, "hindsight_live_index_disk_bytes", nil); v <= 0 {
		t.Fatalf("disk bytes reported %v", v)
	}
	res, err := ix.Search(ctx, index.Request{From: now.AddDate(0, 0, -30), To: now.Add(time.Hour), Size: 5})
	if err != nil || res.Total != 30 || len(res.Hits) != 5 {
		t.Fatalf("search over a month: %v, %+v", err, res)
	}
}

// TestDiskBoundDropsOldestDays: over the bound, the oldest days go; the
// last two stay even alone over it (logstorage keeps a day's range
// searchable).
func TestDiskBoundDropsOldestDays(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	ix, err := embedded.OpenWith(filepath.Join(t.TempDir(), "live"), embedded.Options{MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Put(ctx, dayDocs(now, 10, 0, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the oldest days dropped", 2*time.Minute, func() (bool, string) {
		n := count(t, ix)
		return n == 20, fmt.Sprintf("%d events", n)
	})
	res, err := ix.Search(ctx, index.Request{From: now.AddDate(0, 0, -1).Add(-time.Hour), To: now.Add(time.Hour), Size: 100})
	if err != nil || res.Total != 20 {
		t.Fatalf("today and yesterday: %v, %+v", err, res)
	}
}

// TestPutStoresEachIDOnce: an id written again, in the same batch or a
// later one, after a reopen or among new ones, is stored once; what Put
// returned for is there after a reopen (on disk, not in memory).
func TestPutStoresEachIDOnce(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ix")
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var docs []index.Doc
	for i := range 3000 {
		docs = append(docs, doc(fmt.Sprintf("id-%05d", i), base.Add(time.Duration(i)*time.Second), "event "+fmt.Sprint(i)))
	}
	ix, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A batch holding an id twice, then batches overlapping it.
	if err := ix.Put(ctx, append(docs[:1000:1000], docs[10], docs[999])); err != nil {
		t.Fatal(err)
	}
	if err := ix.Put(ctx, docs[500:2000]); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ix); n != 2000 {
		t.Fatalf("%d events after writing 2000 ids in overlapping batches", n)
	}
	ix.Close()
	ix, err = embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if n := count(t, ix); n != 2000 {
		t.Fatalf("%d events after reopening, want 2000", n)
	}
	if err := ix.Put(ctx, docs); err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(ctx, index.Request{From: base, To: base.Add(time.Hour), Size: 5000, Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, h := range res.Hits {
		s := string(h)
		id := s[strings.Index(s, `"id":"`)+6:]
		id = id[:strings.IndexByte(id, '"')]
		if seen[id] {
			t.Fatalf("%s stored twice", id)
		}
		seen[id] = true
	}
	if res.Total != 3000 || len(seen) != 3000 {
		t.Fatalf("%d events, %d ids, want 3000 of each", res.Total, len(seen))
	}
}

// TestRejectsWhatItCannotHold: a document over logstorage's row limit is
// reported by id; the others of its batch are stored.
func TestRejectsWhatItCannotHold(t *testing.T) {
	ctx := context.Background()
	ix, err := embedded.Open(filepath.Join(t.TempDir(), "ix"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	big := doc("big", base, strings.Repeat("x ", 1<<20))
	err = ix.Put(ctx, []index.Doc{doc("a", base, "a"), big, doc("b", base, "b")})
	rj, ok := err.(index.Rejects)
	if !ok || len(rj) != 1 || rj[0].ID != "big" {
		t.Fatalf("Put: %v, want the big document rejected", err)
	}
	if n := count(t, ix); n != 2 {
		t.Fatalf("%d events, want the 2 others", n)
	}
}
