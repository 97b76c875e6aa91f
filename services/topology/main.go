// Command topology is the topology service: it aggregates flows (from the
// agents' capture, access logs or any ReportFlows client) into the live graph
// of services, served over gRPC (hindsight.topology.v1) as protos, Vizceral
// JSON and a stream.
//
// With --kafka-brokers set it also consumes the access-log topics the router
// writes (--access-log-topics-regex) and turns each nginx/HAProxy/Apache
// access-log event into a flow, fed to the same aggregator as ReportFlows.
//
// Every flag can also be set from the environment, e.g. --stale-after from
// HINDSIGHT_STALE_AFTER.
package main

import (
	"context"
	"flag"

	"github.com/twmb/franz-go/pkg/kgo"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/accesslog"
	"github.com/hindsight-dev/hindsight/services/topology/api"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	"github.com/hindsight-dev/hindsight/services/topology/vizceral"
)

const name = "topology"

type config struct {
	server.Flags
	graph    graph.Options
	vizceral vizceral.Options
	kafka    kafkaconsume.Flags
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
	fs.StringVar(&c.kafka.Brokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; set, access logs from the router's topics also make flows")
	fs.StringVar(&c.kafka.Group, "group", "hindsight-topology", "Kafka consumer group; instances sharing it split the partitions (each then holds part of the access-log traffic)")
	fs.StringVar(&c.kafka.TopicsRegex, "access-log-topics-regex", accesslog.DefaultTopicsRegex, "regular expression of the access-log topics to consume")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

func (c *config) setup(_ context.Context, s *server.Server) error {
	agg := graph.New(c.graph)
	svc, err := api.New(api.Options{
		Aggregator: agg,
		Vizceral:   c.vizceral,
		Log:        s.Log,
		Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	topologyv1.RegisterTopologyServiceServer(s.GRPC, svc)
	if c.kafka.Brokers != "" {
		if err := c.consumeAccessLogs(s, svc, agg); err != nil {
			return err
		}
	}
	s.Health.SetServingStatus(topologyv1.TopologyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}

// consumeAccessLogs starts the consumer of the access-log topics. Kafka need
// not be up: the consumer keeps trying to join its group. A new group starts
// at the end of the topics: the graph only shows the last minutes, and older
// records would be dropped as too old anyway.
func (c *config) consumeAccessLogs(s *server.Server, svc *api.Service, agg *graph.Aggregator) error {
	sink, err := accesslog.NewSink(svc.Report, agg.Resolve, s.Log, s.Registry)
	if err != nil {
		return err
	}
	cfg := c.kafka.Config()
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	cons, err := kafkaconsume.New(cfg, sink, name+"_access_log", s.Log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	return nil
}
