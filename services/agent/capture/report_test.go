package capture

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

type sink struct {
	topologyv1.UnimplementedTopologyServiceServer
	got chan []*topologyv1.Flow
}

func (s *sink) ReportFlows(stream topologyv1.TopologyService_ReportFlowsServer) error {
	var all []*topologyv1.Flow
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			s.got <- all
			return stream.SendAndClose(&topologyv1.ReportFlowsResponse{Accepted: int64(len(all))})
		}
		if err != nil {
			return err
		}
		all = append(all, req.Flows...)
	}
}

type staticResolver map[netip.Addr]Container

func (r staticResolver) Lookup(ip netip.Addr) (Container, bool) { c, ok := r[ip]; return c, ok }

func TestReporterAggregatesAndSends(t *testing.T) {
	s := &sink{got: make(chan []*topologyv1.Flow, 4)}
	conn := servertest.Serve(t, func(srv *grpc.Server) { topologyv1.RegisterTopologyServiceServer(srv, s) })

	m, _ := NewMetrics(nil)
	res := staticResolver{
		netip.MustParseAddr("172.18.0.3"): {Name: "demo-frontend-1", Service: "frontend"},
		netip.MustParseAddr("172.18.0.4"): {Name: "demo-api-1", Service: "api"},
	}
	r := NewReporter(topologyv1.NewTopologyServiceClient(conn), res, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	fe := netip.MustParseAddrPort("172.18.0.3:41000")
	api := netip.MustParseAddrPort("172.18.0.4:8080")
	outside := netip.MustParseAddrPort("172.18.0.1:55555")
	for i := 0; i < 10; i++ {
		r.Add(fe, api, Transaction{Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Operation: "GET /items/{id}", Status: okStatus,
			Start: t0.Add(time.Duration(i) * time.Millisecond), Latency: 2 * time.Millisecond})
	}
	r.Add(fe, api, Transaction{Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Operation: "GET /items/{id}", Status: serverErr, Start: t0, Latency: time.Millisecond})
	r.Add(outside, fe, Transaction{Protocol: topologyv1.Protocol_PROTOCOL_HTTP, Operation: "GET /", Status: okStatus, Start: t0, Latency: time.Millisecond})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	var flows []*topologyv1.Flow
	select {
	case flows = <-s.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no flows sent")
	}
	if len(flows) != 3 {
		t.Fatalf("flows = %v", flows)
	}
	var total int64
	for _, f := range flows {
		total += f.Count
		switch {
		case f.Source.Service == "" && f.Source.Address == "":
			if f.Destination.Service != "frontend" || f.Destination.Port != 41000 {
				t.Errorf("from outside: %v", f)
			}
		case f.Status == okStatus:
			if f.Count != 10 || f.Latency.AsDuration() != 20*time.Millisecond || f.Source.Container != "demo-frontend-1" ||
				f.Destination.Service != "api" || f.Destination.Port != 8080 || !f.Time.AsTime().Equal(t0) {
				t.Errorf("ok flow: %v", f)
			}
		}
	}
	if total != 12 {
		t.Fatalf("counted %d requests, want 12", total)
	}
}
