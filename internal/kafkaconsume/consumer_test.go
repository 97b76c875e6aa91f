package kafkaconsume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/kafkatest"
)

// memSink stores records in memory on every Flush, unless told to fail or
// to hold them until a Flush with all set.
type memSink struct {
	mu     sync.Mutex
	buf    []*kgo.Record
	stored map[string]int // "topic/partition/offset" -> times stored
	fails  int            // fail this many Flushes
	hold   bool
	forgot int
}

func newMemSink() *memSink { return &memSink{stored: map[string]int{}} }

func (s *memSink) Add(r *kgo.Record) { s.mu.Lock(); s.buf = append(s.buf, r); s.mu.Unlock() }

func (s *memSink) Full() bool { return false }

func (s *memSink) Flush(_ context.Context, all bool, parts Parts) (Marks, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 && len(s.buf) > 0 {
		s.fails--
		return nil, errors.New("store down")
	}
	if s.hold && !all {
		return nil, nil
	}
	marks := Marks{}
	kept := s.buf[:0]
	for _, r := range s.buf {
		if !parts.Has(r.Topic, r.Partition) {
			kept = append(kept, r)
			continue
		}
		s.stored[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)]++
		marks.Mark(r)
	}
	s.buf = kept
	return marks, nil
}

func (s *memSink) Forget(parts Parts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.buf[:0]
	for _, r := range s.buf {
		if parts.Has(r.Topic, r.Partition) {
			s.forgot++
		} else {
			kept = append(kept, r)
		}
	}
	s.buf = kept
}

func (s *memSink) storedOnce(t *testing.T, want int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.stored) != want {
		t.Fatalf("stored %d distinct records, want %d", len(s.stored), want)
	}
	for k, n := range s.stored {
		if n != 1 {
			t.Fatalf("record %s stored %d times", k, n)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func produce(c *kafkatest.Cluster, topic string, parts int32, n int) {
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range n {
		id := fmt.Sprintf("%s-%d", topic, i)
		ts := day.Add(time.Duration(i) * time.Second)
		recs = append(recs, kafkatest.Record(topic, int32(i)%parts, id, "web", ts, kafkatest.Doc(id, "web", ts, "hello")))
	}
	c.Produce(recs...)
}

func start(t *testing.T, c *kafkatest.Cluster, sink Sink, reg prometheus.Registerer) (*Consumer, func()) {
	t.Helper()
	cons, err := New(Config{
		Brokers: c.Brokers(), Group: "g", TopicsRegex: `^logs\.`,
		Tick: 20 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		LagInterval: 50 * time.Millisecond,
	}, sink, "test", quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return cons, kafkatest.Run(t, cons.Run)
}

func TestConsumesRegexTopicsAndCommitsWhatIsStored(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"logs.web": 3, "logs.db": 1, "other": 1})
	produce(c, "logs.web", 3, 90)
	produce(c, "logs.db", 1, 10)
	produce(c, "other", 1, 5)
	sink := newMemSink()
	reg := prometheus.NewRegistry()
	start(t, c, sink, reg)
	c.WaitCaughtUp("g", 10*time.Second, "logs.web", "logs.db")
	sink.storedOnce(t, 100)
	if got := c.Committed("g")["other"]; len(got) != 0 {
		t.Fatalf("committed offsets for a topic outside the regex: %v", got)
	}
	// Lag is measured from the brokers and falls to zero once caught up.
	deadline := time.Now().Add(5 * time.Second)
	for {
		series, sum := lag(t, reg)
		if series == 4 && sum == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag: %d series summing to %v; want 4 partitions at 0", series, sum)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lag is the number of consumer_lag series and their sum.
func lag(t *testing.T, reg *prometheus.Registry) (int, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "hindsight_test_consumer_lag" {
			for _, m := range mf.GetMetric() {
				n++
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return n, sum
}

func TestFailingSinkPausesWithoutCommittingThenCatchesUp(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"logs.web": 2})
	sink := newMemSink()
	sink.fails = 1 << 30 // down until told otherwise
	reg := prometheus.NewRegistry()
	cons, _ := start(t, c, sink, reg)
	produce(c, "logs.web", 2, 50)

	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(cons.m.paused) != 1 || testutil.ToFloat64(cons.m.flushFailures) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("consumer did not pause and retry while the sink failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.Committed("g")["logs.web"]; len(got) != 0 {
		t.Fatalf("committed %v while nothing was stored", got)
	}
	if paused := cons.cl.PauseFetchTopics(); len(paused) != 1 {
		t.Fatalf("paused topics = %v", paused)
	}

	sink.mu.Lock()
	sink.fails = 0
	sink.mu.Unlock()
	produce(c, "logs.web", 2, 50) // more arrives during the outage
	c.WaitCaughtUp("g", 10*time.Second, "logs.web")
	sink.storedOnce(t, 100)
	if testutil.ToFloat64(cons.m.paused) != 0 || len(cons.cl.PauseFetchTopics()) != 0 {
		t.Fatal("fetching still paused after the sink recovered")
	}
}

func TestRevokedPartitionsAreStoredAndCommittedBeforeMoving(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"logs.web": 4})
	produce(c, "logs.web", 4, 200)
	first := newMemSink()
	first.hold = true // stores only when forced: at revocation and shutdown
	start(t, c, first, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		first.mu.Lock()
		n := len(first.buf)
		first.mu.Unlock()
		if n == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first member buffered %d of 200", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.Committed("g")["logs.web"]; len(got) != 0 {
		t.Fatalf("committed %v before anything was stored", got)
	}

	// A second member joins: the partitions it takes are flushed and
	// committed by the first before it starts, so it consumes nothing twice.
	second := newMemSink()
	start(t, c, second, nil)
	count := func(s *memSink) int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.stored) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the first member to store revoked partitions", func() bool { return count(first) > 0 })
	if n := count(first); n%50 != 0 || n == 200 {
		t.Fatalf("first member stored %d records at revocation; want whole partitions, not all", n)
	}
	produce(c, "logs.web", 4, 200)
	waitFor("the second member to store", func() bool { return count(second) > 0 })
	first.mu.Lock()
	first.hold = false
	first.mu.Unlock()
	c.WaitCaughtUp("g", 15*time.Second, "logs.web")
	all := map[string]int{}
	for _, s := range []*memSink{first, second} {
		s.mu.Lock()
		for k, n := range s.stored {
			all[k] += n
		}
		s.mu.Unlock()
	}
	if len(all) != 400 {
		t.Fatalf("stored %d distinct records, want 400", len(all))
	}
	for k, n := range all {
		if n != 1 {
			t.Fatalf("record %s stored %d times across members", k, n)
		}
	}
}

func TestPlace(t *testing.T) {
	ts := time.Date(2015, 10, 21, 16, 29, 0, 123456789, time.UTC)
	r := kafkatest.Record("logs.web", 0, "id", "nginx.access", ts, []byte(`{}`))
	if ds, got := Place(r); ds != "nginx.access" || !got.Equal(ts) {
		t.Fatalf("from headers: %q %v", ds, got)
	}
	r = &kgo.Record{Value: kafkatest.Doc("id", "db", ts, "m"), Timestamp: time.Now()}
	if ds, got := Place(r); ds != "db" || !got.Equal(ts) {
		t.Fatalf("from the document: %q %v", ds, got)
	}
	rt := time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	r = &kgo.Record{Value: []byte("not json"), Timestamp: rt}
	if ds, got := Place(r); ds != "" || !got.Equal(rt) || got.Location() != time.UTC {
		t.Fatalf("from the record: %q %v", ds, got)
	}
}
