package api

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/volume"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
)

func TestListVolume(t *testing.T) {
	det, err := volume.New(volume.Config{Warmup: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Aggregator: graph.New(graph.Options{}), Volume: det})
	if err != nil {
		t.Fatal(err)
	}
	// 20 minutes of 100 events a minute in app (service api, host web-1),
	// then 2 minutes of none.
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	det.Tick(t0)
	for m := range 22 {
		at := t0.Add(time.Duration(m) * time.Minute)
		if m < 20 {
			det.Observe("app", "api", "web-1", at, 100)
		}
		det.Tick(at.Add(time.Minute + 30*time.Second))
	}
	ctx := context.Background()
	resp, err := svc.ListVolume(ctx, &topologyv1.ListVolumeRequest{Buckets: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetBucket().AsDuration() != time.Minute || !resp.GetStart().AsTime().Equal(t0.Add(17*time.Minute)) {
		t.Fatalf("bucket %v from %v", resp.GetBucket().AsDuration(), resp.GetStart().AsTime())
	}
	if len(resp.GetSeries()) != 1 {
		t.Fatalf("series %v, want app's only (no breakdown)", resp.GetSeries())
	}
	s := resp.GetSeries()[0]
	if got := s.GetCounts(); len(got) != 5 || got[0] != 100 || got[2] != 100 || got[3] != 0 || got[4] != 0 || s.GetExpected() != 100 {
		t.Fatalf("app's counts %v, expected %v", got, s.GetExpected())
	}
	if a := resp.GetActive(); len(a) != 1 || a[0].GetKind() != topologyv1.AnomalyKind_ANOMALY_KIND_DROP || !a[0].GetStart().AsTime().Equal(t0.Add(20*time.Minute)) || a[0].GetEnd() != nil {
		t.Fatalf("active %v, want app's drop since 09:20", a)
	}
	if len(s.GetAnomalies()) != 1 {
		t.Fatalf("app's anomalies %v", s.GetAnomalies())
	}

	all, err := svc.ListVolume(ctx, &topologyv1.ListVolumeRequest{Dataset: "app", Breakdown: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetSeries()) != 3 || len(all.GetSeries()[0].GetCounts()) != DefaultVolumeBuckets || len(all.GetActive()) != 3 {
		t.Fatalf("with breakdown: %d series, %d active, want app, its host and service each dropping", len(all.GetSeries()), len(all.GetActive()))
	}
	if all.GetActive()[1].GetKind() != topologyv1.AnomalyKind_ANOMALY_KIND_SILENCE || all.GetActive()[1].GetHost() != "web-1" {
		t.Fatalf("web-1: %v, want silent", all.GetActive()[1])
	}
	none, err := svc.ListVolume(ctx, &topologyv1.ListVolumeRequest{Dataset: "nginx.access"})
	if err != nil || len(none.GetSeries()) != 0 {
		t.Fatalf("another dataset: %v %v", none, err)
	}

	for _, bad := range []*topologyv1.ListVolumeRequest{{Buckets: 1441}, {Buckets: -1}, {Dataset: "a b"}} {
		if _, err := svc.ListVolume(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v: %v, want InvalidArgument", bad, err)
		}
	}
	off, _ := New(Options{Aggregator: graph.New(graph.Options{})})
	if _, err := off.ListVolume(ctx, &topologyv1.ListVolumeRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("without a volume watch: %v", err)
	}
}
