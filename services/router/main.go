// Command router is the "logmaster": it receives batches of raw lines from
// the agents, parses them, routes each event to its Kafka topic and
// acknowledges a batch only once Kafka has committed every record in it
// (hindsight.routing.v1.RoutingService). Datasets and routes live in etcd,
// seeded from --config and editable through the API; topics are created and
// their retention and compression kept as declared. See services/router/app.
//
// Every flag can also be set from the environment, e.g. --kafka-brokers from
// HINDSIGHT_KAFKA_BROKERS.
package main

import (
	"context"
	"flag"

	clientv3 "go.etcd.io/etcd/client/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/router/app"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
)

const name = "router"

type config struct {
	etcdclient.Service
	KafkaBrokers string
	app          app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9101", ":9102", c.bind, c.start)
}

// start wires the router on s. It contacts neither etcd nor Kafka: the
// catalog loads in the background, and the router reports NOT_SERVING until
// it has. The overall health follows the router's.
func (c *config) start(_ context.Context, s *server.Server, cli *clientv3.Client) error {
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return app.Start(s, c.app, app.Deps{
		Etcd:         cli,
		Brokers:      flagenv.List(c.KafkaBrokers),
		DrainTimeout: c.ShutdownTimeout,
		OnReady: func(snap *catalog.Snapshot) {
			s.Log.Info("catalog loaded; serving", "datasets", len(snap.Datasets), "routes", len(snap.Routes), "revision", snap.Revision)
			s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		},
	})
}
