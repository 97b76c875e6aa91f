package api

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/metricset/metrictest"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func start(t *testing.T, c *clock) (topologyv1.TopologyServiceClient, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := New(Options{Aggregator: graph.New(graph.Options{Now: c.now}), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	conn := servertest.Serve(t, func(srv *grpc.Server) { topologyv1.RegisterTopologyServiceServer(srv, svc) })
	return topologyv1.NewTopologyServiceClient(conn), reg
}

func httpFlow(src, dst string, st topologyv1.StatusClass, n int64, at time.Time) *topologyv1.Flow {
	return &topologyv1.Flow{
		Source:      &topologyv1.Endpoint{Service: src},
		Destination: &topologyv1.Endpoint{Service: dst, Container: dst + "-1"},
		Protocol:    topologyv1.Protocol_PROTOCOL_HTTP,
		Status:      st,
		Count:       n,
		Latency:     durationpb.New(time.Duration(n) * time.Millisecond),
		Time:        timestamppb.New(at),
		Origin:      topologyv1.Origin_ORIGIN_CAPTURE,
	}
}

func TestReportThenRead(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	c := &clock{t: t0}
	cli, reg := start(t, c)
	ctx := context.Background()

	stream, err := cli.ReportFlows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 10; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		c.set(at)
		err := stream.Send(&topologyv1.ReportFlowsRequest{Flows: []*topologyv1.Flow{
			httpFlow("", "frontend", topologyv1.StatusClass_STATUS_CLASS_OK, 19, at),
			httpFlow("", "frontend", topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR, 1, at),
			httpFlow("frontend", "api", topologyv1.StatusClass_STATUS_CLASS_OK, 20, at),
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil || resp.Accepted != 30 {
		t.Fatalf("ReportFlows = %v, %v", resp, err)
	}
	c.set(t0.Add(10 * time.Second))

	g, err := cli.GetGraph(ctx, &topologyv1.GetGraphRequest{Window: durationpb.New(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 2 || len(g.Nodes) != 3 {
		t.Fatalf("graph = %v", g)
	}
	if e := g.Edges[0]; e.Source != "INTERNET" || e.RequestRate != 20 || e.ErrorRatio != 0.05 {
		t.Fatalf("edge = %v", e)
	}
	v, err := cli.GetVizceral(ctx, &topologyv1.GetGraphRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Renderer != "global" || len(v.Nodes[1].Nodes) != 3 || len(v.Nodes[1].Connections) != 2 {
		t.Fatalf("vizceral = %v", v)
	}
	if got := metrictest.Sum(t, reg, "hindsight_topology_requests_total", nil); got != 400 {
		t.Fatalf("requests_total = %v", got)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := cli.WatchGraph(wctx, &topologyv1.WatchGraphRequest{Interval: durationpb.New(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for i := 0; i < 3; i++ {
		g, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Edges) != 2 {
			t.Fatalf("watched graph = %v", g)
		}
	}
	if d := time.Since(begin); d < 350*time.Millisecond || d > 2*time.Second {
		t.Fatalf("3 updates every 200ms took %v", d)
	}
}

// counterSum sums every series of a counter family.
func TestValidationNamesTheField(t *testing.T) {
	c := &clock{t: time.Now()}
	cli, _ := start(t, c)
	ctx := context.Background()
	cases := []struct {
		flow  *topologyv1.Flow
		field string
	}{
		{&topologyv1.Flow{Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK}, "flows[1].destination"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "api"}, Status: topologyv1.StatusClass_STATUS_CLASS_OK}, "flows[1].protocol"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "api"}, Protocol: topologyv1.Protocol_PROTOCOL_HTTP}, "flows[1].status"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "a b"}, Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK}, "flows[1].destination.service"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "api", Port: 70000}, Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK}, "flows[1].destination.port"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "api"}, Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK, Count: -1}, "flows[1].count"},
		{&topologyv1.Flow{Destination: &topologyv1.Endpoint{Service: "api"}, Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK, Latency: durationpb.New(-time.Second)}, "flows[1].latency"},
	}
	for _, tc := range cases {
		stream, err := cli.ReportFlows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		good := httpFlow("", "frontend", topologyv1.StatusClass_STATUS_CLASS_OK, 1, c.now())
		_ = stream.Send(&topologyv1.ReportFlowsRequest{Flows: []*topologyv1.Flow{good, tc.flow}})
		_, err = stream.CloseAndRecv()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	_, err := cli.GetGraph(ctx, &topologyv1.GetGraphRequest{Window: durationpb.New(time.Hour)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "window: must be at most 15m0s") {
		t.Errorf("window: %v", err)
	}
	w, err := cli.WatchGraph(ctx, &topologyv1.WatchGraphRequest{Interval: durationpb.New(time.Millisecond)})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "interval:") {
		t.Errorf("interval: %v", err)
	}
}
