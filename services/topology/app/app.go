// Package app is the topology service as one unit: its flags, with the
// defaults the service owns, and Start, which serves the live service graph
// (hindsight.topology.v1) on a server and, given Kafka brokers, turns the
// router's access-log topics into flows and watches every dataset's event
// rate (the volume watch, ListVolume). The topology binary and the
// all-in-one both call Start.
package app

import (
	"flag"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/volume"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/accesslog"
	"github.com/hindsight-dev/hindsight/services/topology/api"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	"github.com/hindsight-dev/hindsight/services/topology/vizceral"
)

const name = "topology"

// Flags are the topology service's settings.
type Flags struct {
	Graph    graph.Options
	Vizceral vizceral.Options
	// Group and TopicsRegex choose the access-log topics consumed.
	Group       string
	TopicsRegex string
	// Volume is the volume watch (event rates per dataset), on with brokers.
	Volume VolumeFlags
}

// Bind registers the flags on fs with the service's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.DurationVar(&f.Graph.MaxWindow, "max-window", graph.DefaultMaxWindow, "longest window a graph can be asked for (memory: one bucket per second per edge)")
	fs.DurationVar(&f.Graph.Lag, "lag", graph.DefaultLag, "how far behind now windows end, so flows still on their way are not missed")
	fs.DurationVar(&f.Graph.StaleAfter, "stale-after", graph.DefaultStaleAfter, "an edge without traffic for this long is marked stale (danger)")
	fs.DurationVar(&f.Graph.FadeAfter, "fade-after", graph.DefaultFadeAfter, "an edge without traffic for this long leaves the graph")
	fs.IntVar(&f.Graph.MaxEdges, "max-edges", graph.DefaultMaxEdges, "edges kept at most; flows of further edges are dropped and counted")
	fs.StringVar(&f.Vizceral.Region, "region", "local", "the Vizceral region the services are drawn in")
	fs.Float64Var(&f.Vizceral.WarningRatio, "warning-ratio", 0.01, "error ratio from which a node or connection is drawn as warning")
	fs.Float64Var(&f.Vizceral.DangerRatio, "danger-ratio", 0.10, "error ratio from which a node or connection is drawn as danger")
	fs.StringVar(&f.Group, "group", "hindsight-topology", "Kafka consumer group; instances sharing it split the partitions (each then holds part of the access-log traffic)")
	fs.StringVar(&f.TopicsRegex, "access-log-topics-regex", accesslog.DefaultTopicsRegex, "regular expression of the access-log topics to consume")
	f.Volume.Bind(fs)
}

// Deps are what the service runs against.
type Deps struct {
	// Brokers of the router's Kafka; none: no access logs are consumed.
	Brokers []string
	// ClientOpts are extra Kafka client options (the all-in-one's quick
	// topic discovery).
	ClientOpts []kgo.Opt
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start registers the TopologyService on s and, with brokers, the access-log
// consumer as one of s's jobs.
func Start(s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	agg := graph.New(f.Graph)
	var vol *volume.Detector
	if len(d.Brokers) > 0 {
		var err error
		if vol, err = startVolume(s, f.Volume, d, log); err != nil {
			return err
		}
	}
	svc, err := api.New(api.Options{Aggregator: agg, Vizceral: f.Vizceral, Log: log, Registerer: s.Registry, Volume: vol})
	if err != nil {
		return err
	}
	topologyv1.RegisterTopologyServiceServer(s.GRPC, svc)
	if len(d.Brokers) > 0 {
		if err := consumeAccessLogs(s, f, d, log, svc, agg); err != nil {
			return err
		}
	}
	s.Health.SetServingStatus(topologyv1.TopologyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return nil
}

// consumeAccessLogs starts the consumer of the access-log topics. Kafka need
// not be up: the consumer keeps trying to join its group. A new group starts
// at the end of the topics: the graph only shows the last minutes, and older
// records would be dropped as too old anyway.
func consumeAccessLogs(s *server.Server, f Flags, d Deps, log *slog.Logger, svc *api.Service, agg *graph.Aggregator) error {
	sink, err := accesslog.NewSink(svc.Report, agg.Resolve, log, s.Registry)
	if err != nil {
		return err
	}
	cfg := kafkaconsume.Config{Brokers: d.Brokers, Group: f.Group, TopicsRegex: f.TopicsRegex,
		ClientOpts: append([]kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd())}, d.ClientOpts...)}
	cons, err := kafkaconsume.New(cfg, sink, name+"_access_log", log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	return nil
}
