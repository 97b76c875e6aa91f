// Command topology is the topology service: it aggregates flows (from the
// agents' capture, access logs or any ReportFlows client) into the live graph
// of services, served over gRPC (hindsight.topology.v1) as protos, Vizceral
// JSON and a stream. See services/topology/app.
//
// With --kafka-brokers set it also consumes the access-log topics the router
// writes (--access-log-topics-regex) and turns each nginx/HAProxy/Apache
// access-log event into a flow, fed to the same aggregator as ReportFlows;
// and it runs the volume watch over every dataset's topic (--volume-*,
// ListVolume: event rates and their anomalies).
//
// Every flag can also be set from the environment, e.g. --stale-after from
// HINDSIGHT_STALE_AFTER.
package main

import (
	"context"
	"flag"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/topology/app"
)

const name = "topology"

type config struct {
	server.Flags
	KafkaBrokers string
	app          app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; set, access logs from the router's topics also make flows, and the volume watch counts every dataset's events")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9501", ":9502", c.bind, c.setup)
}

func (c *config) setup(_ context.Context, s *server.Server) error {
	return app.Start(s, c.app, app.Deps{Brokers: flagenv.List(c.KafkaBrokers)})
}
