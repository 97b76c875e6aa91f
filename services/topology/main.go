// Command topology is the topology service: it aggregates flows (from the
// agents' capture, access logs or any ReportFlows client) into the live graph
// of services, served over gRPC (hindsight.topology.v1) as protos, Vizceral
// JSON and a stream.
//
// Every flag can also be set from the environment, e.g. --stale-after from
// HINDSIGHT_STALE_AFTER.
package main

import (
	"context"
	"flag"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	"github.com/hindsight-dev/hindsight/services/topology/service"
	"github.com/hindsight-dev/hindsight/services/topology/vizceral"
)

const name = "topology"

type config struct {
	server.Flags
	graph    graph.Options
	vizceral vizceral.Options
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9501", ":9502")
	fs.DurationVar(&c.graph.MaxWindow, "max-window", graph.DefaultMaxWindow, "longest window a graph can be asked for (memory: one bucket per second per edge)")
	fs.DurationVar(&c.graph.Lag, "lag", graph.DefaultLag, "how far behind now windows end, so flows still on their way are not missed")
	fs.DurationVar(&c.graph.StaleAfter, "stale-after", graph.DefaultStaleAfter, "an edge without traffic for this long is marked stale (danger)")
	fs.DurationVar(&c.graph.FadeAfter, "fade-after", graph.DefaultFadeAfter, "an edge without traffic for this long leaves the graph")
	fs.IntVar(&c.graph.MaxEdges, "max-edges", graph.DefaultMaxEdges, "edges kept at most; flows of further edges are dropped and counted")
	fs.StringVar(&c.vizceral.Region, "region", "local", "the Vizceral region the services are drawn in")
	fs.Float64Var(&c.vizceral.WarningRatio, "warning-ratio", 0.01, "error ratio from which a node or connection is drawn as warning")
	fs.Float64Var(&c.vizceral.DangerRatio, "danger-ratio", 0.10, "error ratio from which a node or connection is drawn as danger")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

func (c *config) setup(_ context.Context, s *server.Server) error {
	svc, err := service.New(service.Options{
		Aggregator: graph.New(c.graph),
		Vizceral:   c.vizceral,
		Log:        s.Log,
		Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	topologyv1.RegisterTopologyServiceServer(s.GRPC, svc)
	s.Health.SetServingStatus(topologyv1.TopologyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}
