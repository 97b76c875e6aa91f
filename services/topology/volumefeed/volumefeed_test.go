package volumefeed

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkatest"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/volume"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

func TestSinkCountsEveryEventBySeries(t *testing.T) {
	det, err := volume.New(volume.Config{Bucket: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sink, err := NewSink(det, slog.Default(), reg)
	if err != nil {
		t.Fatal(err)
	}
	// Local time, as the judge's clock: the events' times are UTC.
	t0 := time.Now().Local().Truncate(time.Second).Add(-10 * time.Second)
	for i := range 30 {
		e := &eventv1.Event{Id: "e", Timestamp: timestamppb.New(t0.Add(time.Duration(i%3) * time.Second)), Dataset: "app",
			Service: "api", Source: &eventv1.Source{Host: "web-1"}, Message: "m"}
		doc, err := event.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		r := kafkatest.Record("logs.app", 0, "e", "app", t0, doc)
		r.Offset = int64(i)
		sink.Add(r)
	}
	bad := kafkatest.Record("logs.app", 0, "x", "app", t0, []byte("not json"))
	bad.Offset = 30
	sink.Add(bad)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hindsight_volume_undecodable_records_total Consumed records that are no ECS event document, not counted by the volume watch.
# TYPE hindsight_volume_undecodable_records_total counter
hindsight_volume_undecodable_records_total 1
`)); err != nil {
		t.Fatal(err)
	}
	// Every record is done at once: the flush commits all 31.
	marks, err := sink.Flush(context.Background(), false, nil)
	if err != nil || marks["logs.app"][0].Offset != 31 {
		t.Fatalf("marks %v %v", marks, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Judge(det, slog.Default())(ctx) }()
	polltest.True(t, "the buckets judged", 10*time.Second, func() bool {
		return len(det.Snapshot(volume.Filter{Buckets: 1}).Series) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap := det.Snapshot(volume.Filter{Buckets: 15, Breakdown: true})
	if len(snap.Series) != 3 {
		t.Fatalf("series %+v, want app, its host and its service", snap.Series)
	}
	for _, s := range snap.Series {
		var sum int64
		for i, c := range s.Counts {
			at := snap.Start.Add(time.Duration(i) * time.Second)
			if !at.Before(t0) && at.Before(t0.Add(3*time.Second)) && c != 10 {
				t.Fatalf("%+v: bucket %s holds %d, want 10", s.Key, at, c)
			}
			sum += c
		}
		if sum != 30 {
			t.Fatalf("%+v counted %d events, want 30", s.Key, sum)
		}
	}
}
