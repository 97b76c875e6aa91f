package volumefeed

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkatest"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/volume"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

var quick = []kgo.Opt{kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(100 * time.Millisecond)}

// record is an event of app/api/web-1 at t, appended to Kafka at appended.
func record(t *testing.T, partition int32, at, appended time.Time) *kgo.Record {
	t.Helper()
	doc, err := event.Marshal(&eventv1.Event{Id: "e", Timestamp: timestamppb.New(at), Dataset: "app",
		Service: "api", Source: &eventv1.Source{Host: "web-1"}, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	r := kafkatest.Record("logs.app", partition, "e", "app", at, doc)
	r.Timestamp = appended
	return r
}

func start(t *testing.T, k *kafkatest.Cluster, det *volume.Detector, history time.Duration, reg prometheus.Registerer) *Feed {
	t.Helper()
	f, err := New(Config{Brokers: k.Brokers(), TopicsRegex: `^logs\.`, History: history, ClientOpts: quick}, det, slog.Default(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return f
}

func ready(t *testing.T, f *Feed) {
	t.Helper()
	select {
	case <-f.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the feed did not read its history within 20 s")
	}
}

// total is the events counted in d's series of key over its last n buckets.
func total(d *volume.Detector, key volume.Key, n int) int64 {
	var sum int64
	for _, s := range d.Snapshot(volume.Filter{Buckets: n, Breakdown: true}).Series {
		if s.Key == key {
			for _, c := range s.Counts {
				sum += c
			}
		}
	}
	return sum
}

func TestRestartedFeedReadsItsHistoryAgain(t *testing.T) {
	// 10 s buckets, a recent baseline of 30 (5 minutes, the history read
	// again): 20 events a bucket for the last 10 minutes on two partitions,
	// appended as they happened.
	const bucket = 10 * time.Second
	cfg := volume.Config{Bucket: bucket, Recent: 30, Warmup: 6, Days: 1}
	k := kafkatest.New(t, map[string]int32{"logs.app": 2})
	now := time.Now()
	var recs []*kgo.Record
	for at := now.Add(-10 * time.Minute).Truncate(bucket); at.Before(now); at = at.Add(bucket / 20) {
		recs = append(recs, record(t, int32(len(recs)%2), at, at))
	}
	k.Produce(recs...)

	reg := prometheus.NewRegistry()
	det, _ := volume.New(cfg, nil)
	f := start(t, k, det, 5*time.Minute, reg)
	ready(t, f)
	// Judged at once, from the history read again: the baseline is there
	// (no warmup), no anomaly, and what was counted is the history since
	// then — the 5 minutes, not the 10 — from both partitions.
	if began := det.Tick(time.Now()); len(began) != 0 {
		t.Fatalf("anomalies at the restart: %+v", began)
	}
	snap := det.Snapshot(volume.Filter{Buckets: 60, Breakdown: true})
	if len(snap.Series) != 3 {
		t.Fatalf("series %+v, want app, its service and its host", snap.Series)
	}
	for _, s := range snap.Series {
		if s.Expected != 20 {
			t.Fatalf("%+v expects %v a bucket right after the restart, want the history's 20", s.Key, s.Expected)
		}
	}
	want := 0
	for _, r := range recs {
		if r.Timestamp.UnixMilli() >= f.since.UnixMilli() {
			want++
		}
	}
	if got := testutil.ToFloat64(f.consumed); got != float64(want) || want < 590 || want > 610 {
		t.Fatalf("read %v records again, want the last 5 minutes' %d (of %d in Kafka)", got, want, len(recs))
	}
	// The judged buckets hold them, bar the newest, not judged yet.
	n := total(det, volume.Key{Dataset: "app"}, 60)
	if n > int64(want) || n < int64(want)-2*20 {
		t.Fatalf("the judged buckets hold %d events, want the %d read bar the newest bucket or two", n, want)
	}
	if c := testutil.ToFloat64(f.caughtUp); c != 1 {
		t.Fatalf("hindsight_volume_caught_up %v once ready", c)
	}
	// Live records keep coming in (two late events, of a judged bucket).
	late := time.Now().Add(-3 * bucket)
	k.Produce(record(t, 0, late, time.Now()), record(t, 1, late, time.Now()))
	polltest.True(t, "live records counted", 10*time.Second, func() bool {
		return testutil.ToFloat64(f.consumed) == float64(want+2)
	})
}

func TestEveryInstanceCountsEveryPartition(t *testing.T) {
	// Two topology instances on the same topics: each counts all the
	// events of both partitions (a shared consumer group would split them).
	k := kafkatest.New(t, map[string]int32{"logs.app": 2})
	var dets []*volume.Detector
	for range 2 {
		det, _ := volume.New(volume.Config{Bucket: time.Second}, nil)
		ready(t, start(t, k, det, 0, nil))
		dets = append(dets, det)
	}
	now := time.Now().Add(-5 * time.Second)
	for i := range 40 {
		k.Produce(record(t, int32(i%2), now, now))
	}
	for i, det := range dets {
		polltest.True(t, "instance's count", 10*time.Second, func() bool {
			det.Tick(time.Now())
			return total(det, volume.Key{Dataset: "app"}, 30) == 40
		})
		t.Logf("instance %d counted all 40", i)
	}
}

func TestJudgeWaitsForTheHistory(t *testing.T) {
	// Kafka does not answer: the feed cannot list its history, and the judge
	// judges nothing (a bucket judged before its events were read again
	// would be a false drop).
	det, _ := volume.New(volume.Config{Bucket: time.Second}, nil)
	det.Observe("app", "", "", time.Now().Add(-3*time.Second), 100)
	f, err := New(Config{Brokers: []string{"127.0.0.1:1"}, TopicsRegex: `^logs\.`, History: time.Minute}, det, slog.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- f.Run(ctx) }()
	go func() { done <- Judge(det, f.Ready(), slog.Default())(ctx) }()
	time.Sleep(2 * time.Second)
	if s := det.Snapshot(volume.Filter{Buckets: 5}); len(s.Series) != 0 {
		t.Fatalf("judged before the history was read: %+v", s)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestUndecodableRecordsAreCounted(t *testing.T) {
	k := kafkatest.New(t, map[string]int32{"logs.app": 1})
	reg := prometheus.NewRegistry()
	det, _ := volume.New(volume.Config{Bucket: time.Second}, nil)
	f := start(t, k, det, 0, reg)
	ready(t, f)
	k.Produce(kafkatest.Record("logs.app", 0, "x", "app", time.Now(), []byte("not json")))
	polltest.True(t, "the bad record counted", 10*time.Second, func() bool {
		return testutil.ToFloat64(f.bad) == 1
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hindsight_volume_records_consumed_total Records the volume watch read from Kafka (at start again those of its history window).
# TYPE hindsight_volume_records_consumed_total counter
hindsight_volume_records_consumed_total 1
`), "hindsight_volume_records_consumed_total"); err != nil {
		t.Fatal(err)
	}
}

func TestFirstStartIsNoGap(t *testing.T) {
	// Kafka holds a minute of records (the pipeline started then), events
	// timed days ago among them (the demo's history, as the all-in-one
	// writes it): the half hour of history asked for before that minute is
	// not taken for empty buckets, which would make the recent baseline 0.
	const bucket = 10 * time.Second
	k := kafkatest.New(t, map[string]int32{"logs.app": 1})
	now := time.Now()
	recs := []*kgo.Record{record(t, 0, now.Add(-72*time.Hour), now.Add(-time.Minute))}
	for at := now.Add(-time.Minute).Truncate(bucket); at.Before(now); at = at.Add(bucket / 20) {
		recs = append(recs, record(t, 0, at, at))
	}
	k.Produce(recs...)
	det, _ := volume.New(volume.Config{Bucket: bucket, Recent: 30, Warmup: 3, Days: 7}, nil)
	ready(t, start(t, k, det, 30*time.Minute, nil))
	det.Tick(time.Now())
	for _, s := range det.Snapshot(volume.Filter{Buckets: 30}).Series {
		if s.Expected != 20 {
			t.Fatalf("%+v expects %v a bucket, want the minute's 20", s.Key, s.Expected)
		}
	}
}
