package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	_ "gocloud.dev/blob/fileblob"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/kafkatest"
)

var day0 = time.Date(2015, 10, 21, 0, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t testing.TB, dir string) *archive.Store {
	t.Helper()
	s, err := archive.Open(context.Background(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run archives from c into store until stop is called.
func run(t *testing.T, c *kafkatest.Cluster, store *archive.Store, opt Options) (w *Writer, stop func()) {
	t.Helper()
	opt.Log = quiet()
	opt.Registerer = prometheus.NewRegistry()
	w, err := New(store, opt)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kafkaconsume.New(kafkaconsume.Config{
		Brokers: c.Brokers(), Group: "archiver", TopicsRegex: kafkaconsume.DefaultTopicsRegex,
		Tick: 20 * time.Millisecond, RetryMin: 20 * time.Millisecond, LagInterval: -1,
	}, w, "archiver", quiet(), opt.Registerer)
	if err != nil {
		t.Fatal(err)
	}
	stop = kafkatest.Run(t, cons.Run)
	return w, stop
}

// event is record i of a dataset: its day is i%days, its partition i%parts.
func event(dataset string, i, days, parts int) (id string, ts time.Time, p int32) {
	id = fmt.Sprintf("%s-%04d", dataset, i)
	ts = day0.Add(time.Duration(i%days)*24*time.Hour + time.Duration(i)*time.Second)
	return id, ts, int32(i % parts)
}

func produce(c *kafkatest.Cluster, topic, dataset string, n, days, parts int) {
	var recs []*kgo.Record
	for i := range n {
		id, ts, p := event(dataset, i, days, parts)
		recs = append(recs, kafkatest.Record(topic, p, id, dataset, ts, kafkatest.Doc(id, dataset, ts, "same size message")))
	}
	c.Produce(recs...)
}

// contents reads every published object of the datasets over the days.
type contents struct {
	objects []archive.Object
	ids     map[string]int   // event id -> times archived
	perDay  map[string]int64 // "dataset/YYYY-MM-DD" -> events
	names   map[string]bool  // object paths
}

func read(t *testing.T, store *archive.Store, datasets []string, days int) contents {
	t.Helper()
	ctx := context.Background()
	got := contents{ids: map[string]int{}, perDay: map[string]int64{}, names: map[string]bool{}}
	for _, ds := range datasets {
		for d := range days {
			date := day0.AddDate(0, 0, d)
			objs, err := store.Day(ctx, ds, date)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				got.objects = append(got.objects, o)
				got.names[o.Path()] = true
				r, err := store.Read(ctx, o.Path())
				if err != nil {
					t.Fatal(err)
				}
				var n int64
				for {
					b, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					var doc struct {
						Timestamp time.Time `json:"@timestamp"`
						Event     struct{ ID string }
					}
					if err := json.Unmarshal(b, &doc); err != nil {
						t.Fatal(err)
					}
					if archive.Midnight(doc.Timestamp) != date {
						t.Errorf("event %s of %s is in %s's folder", doc.Event.ID, doc.Timestamp, date)
					}
					got.ids[doc.Event.ID]++
					n++
				}
				r.Close()
				if n != o.Events {
					t.Errorf("%s holds %d events, its manifest says %d", o.Path(), n, o.Events)
				}
				got.perDay[ds+"/"+date.Format(time.DateOnly)] += n
			}
		}
	}
	return got
}

func (c contents) exactlyOnce(t *testing.T, want int) {
	t.Helper()
	if len(c.ids) != want {
		t.Fatalf("archive holds %d distinct events, want %d", len(c.ids), want)
	}
	for id, n := range c.ids {
		if n != 1 {
			t.Fatalf("event %s archived %d times", id, n)
		}
	}
}

func journal(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, "_journal"), func(p string, d os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".json" { // not fileblob's .attrs
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestArchivesEachDayWithExactCounts(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"logs.web": 2, "logs.db": 1, "metrics": 1})
	produce(c, "logs.web", "web", 300, 3, 2)
	produce(c, "logs.db", "db", 60, 2, 1)
	produce(c, "metrics", "metrics", 10, 1, 1) // not matched by the regex
	dir := t.TempDir()
	store := openStore(t, dir)
	w, stop := run(t, c, store, Options{FlushBytes: 1 << 20, FlushInterval: 100 * time.Millisecond})
	c.WaitCaughtUp("archiver", 10*time.Second, "logs.web", "logs.db")
	stop()

	got := read(t, store, []string{"web", "db", "metrics"}, 3)
	got.exactlyOnce(t, 360)
	want := map[string]int64{
		"web/2015-10-21": 100, "web/2015-10-22": 100, "web/2015-10-23": 100,
		"db/2015-10-21": 30, "db/2015-10-22": 30,
	}
	if fmt.Sprint(got.perDay) != fmt.Sprint(want) {
		t.Fatalf("events per day = %v, want %v", got.perDay, want)
	}
	for _, o := range got.objects {
		if o.Topic != "logs."+o.Dataset || o.Events == 0 || o.MinTime.After(o.MaxTime) || archive.Midnight(o.MinTime) != o.Day {
			t.Errorf("manifest %+v", o)
		}
	}
	_, est, err := store.Plan(context.Background(), []string{"web", "db"}, day0, day0.AddDate(0, 0, 3))
	if err != nil || est.Events != 360 || est.Objects != len(got.objects) {
		t.Fatalf("plan estimate %+v, %v; want 360 events in %d objects", est, err, len(got.objects))
	}
	if j := journal(t, dir); len(j) != 0 {
		t.Fatalf("journal not settled after commits: %v", j)
	}
	if n := testutil.ToFloat64(w.m.objects); int(n) != len(got.objects) {
		t.Fatalf("objects_written_total = %v, archive has %d", n, len(got.objects))
	}
}

// A run whose commits never land (a crash just before committing) followed
// by a normal run: the second run rewrites the same object names, and the
// archive holds every event exactly once.
func TestRerunAfterCrashBeforeCommitRewritesTheSameObjects(t *testing.T) {
	c, failing := crashingCluster(t)
	size := len(kafkatest.Doc("web-0000", "web", day0, "same size message"))
	opt := Options{FlushBytes: 10 * size, FlushInterval: time.Hour} // 10 records per flush, by size only
	dir := t.TempDir()
	store := openStore(t, dir)

	w1, stop := run(t, c, store, opt)
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(w1.m.events) < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("first run wrote %v of 100 events", testutil.ToFloat64(w1.m.events))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if got := c.Committed("archiver")["logs.web"]; len(got) != 0 {
		t.Fatalf("first run committed %v", got)
	}
	first := read(t, store, []string{"web"}, 2)
	first.exactlyOnce(t, 100)
	if len(journal(t, dir)) != 10 {
		t.Fatalf("journal holds %d flushes, want the 10 uncommitted ones", len(journal(t, dir)))
	}

	failing.Store(false)
	run(t, c, store, opt)
	c.WaitCaughtUp("archiver", 10*time.Second, "logs.web")
	second := read(t, store, []string{"web"}, 2)
	second.exactlyOnce(t, 100)
	if !equal(first.names, second.names) {
		t.Fatalf("re-run wrote %v, first run %v", keys(second.names), keys(first.names))
	}
	// 10 flushes of 10 records over 2 days: 20 objects.
	if len(second.names) != 20 {
		t.Fatalf("%d objects, want 20", len(second.names))
	}
}

// crashingCluster holds 100 events of "web" on logs.web, and fails every
// commit until failing is cleared, as a crash before committing does.
func crashingCluster(t *testing.T) (c *kafkatest.Cluster, failing *atomic.Bool) {
	c = kafkatest.New(t, map[string]int32{"logs.web": 1})
	failing = new(atomic.Bool)
	failing.Store(true)
	c.FailCommits(failing.Load)
	produce(c, "logs.web", "web", 100, 2, 1)
	return c, failing
}

// When the re-run cuts the records differently (the crashed run flushed by
// age), the journal still leaves each event archived once.
func TestRerunWithOtherCutsLeavesNoDuplicates(t *testing.T) {
	c, failing := crashingCluster(t)
	dir := t.TempDir()
	store := openStore(t, dir)

	w1, stop := run(t, c, store, Options{FlushBytes: 1 << 20, FlushInterval: 50 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(w1.m.events) < 100 {
		if time.Now().After(deadline) {
			t.Fatal("first run did not write everything")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	first := read(t, store, []string{"web"}, 2)
	first.exactlyOnce(t, 100)

	failing.Store(false)
	size := len(kafkatest.Doc("web-0000", "web", day0, "same size message"))
	w2, _ := run(t, c, store, Options{FlushBytes: 7 * size, FlushInterval: 50 * time.Millisecond})
	c.WaitCaughtUp("archiver", 10*time.Second, "logs.web")
	second := read(t, store, []string{"web"}, 2)
	second.exactlyOnce(t, 100)
	if equal(first.names, second.names) {
		t.Fatal("test premise: the runs should cut the records differently")
	}
	if removed := testutil.ToFloat64(w2.m.removed); int(removed) != len(first.names) {
		t.Fatalf("second run removed %v objects, the first wrote %d", removed, len(first.names))
	}
}

func equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resend produces events from..to-1 of a dataset again (same ids, partition
// and times), as a router does when an agent resends a batch it had produced
// but not acknowledged before dying.
func resend(c *kafkatest.Cluster, topic, dataset string, from, to, days, parts int) {
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		id, ts, p := event(dataset, i, days, parts)
		recs = append(recs, kafkatest.Record(topic, p, id, dataset, ts, kafkatest.Doc(id, dataset, ts, "same size message")))
	}
	c.Produce(recs...)
}

// Events Kafka holds twice (a batch resent after a router died between
// Kafka's acknowledgement and its own) are archived once, within one run and
// across a restart of the archiver. Found by e2e/pipeline: after router
// SIGKILLs the archive held 150 events twice while OpenSearch (ids as _id)
// held each once.
func TestResentEventsArchivedOnce(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"logs.web": 2})
	produce(c, "logs.web", "web", 100, 2, 2)
	resend(c, "logs.web", "web", 40, 60, 2, 2)
	dir := t.TempDir()
	store := openStore(t, dir)
	opt := Options{FlushBytes: 1 << 20, FlushInterval: 20 * time.Millisecond}

	w1, stop := run(t, c, store, opt)
	c.WaitCaughtUp("archiver", 10*time.Second, "logs.web")
	read(t, store, []string{"web"}, 2).exactlyOnce(t, 100)
	if got := testutil.ToFloat64(w1.m.duplicates); got != 20 {
		t.Fatalf("duplicates dropped: %v, want 20", got)
	}
	stop()

	// A new owner: the resent copies arrive after a restart, their originals
	// archived and committed by the previous run.
	resend(c, "logs.web", "web", 70, 90, 2, 2)
	w2, _ := run(t, c, store, opt)
	c.WaitCaughtUp("archiver", 10*time.Second, "logs.web")
	read(t, store, []string{"web"}, 2).exactlyOnce(t, 100)
	if got := testutil.ToFloat64(w2.m.duplicates); got != 20 {
		t.Fatalf("duplicates dropped after the restart: %v, want 20", got)
	}
}
