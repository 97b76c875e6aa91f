// Command agent runs on every node: it registers labelled containers with
// membership, ships log files to the routers and reports the containers'
// traffic to topology (see services/agent/app).
//
// Every flag can also be set from the environment, e.g. --node from
// HINDSIGHT_NODE.
package main

import (
	"context"
	"flag"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/agent/app"
)

const name = "agent"

type config struct {
	server.Flags
	app app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9801", ":9802")
	c.app.Bind(fs)
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, func(ctx context.Context, s *server.Server) error {
		if err := app.Start(ctx, s, &c.app); err != nil {
			return err
		}
		s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		return nil
	})
}
