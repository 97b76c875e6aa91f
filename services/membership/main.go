// Command membership is the membership service: a registry of service
// instances in etcd, served over gRPC (hindsight.membership.v1). See
// services/membership/app.
//
// Every flag can also be set from the environment, e.g. --etcd-endpoints from
// HINDSIGHT_ETCD_ENDPOINTS.
package main

import (
	"context"
	"flag"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/membership/app"
)

const name = "membership"

type config struct {
	server.Flags
	etcd etcdclient.Flags
	app  app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9301", ":9302")
	c.etcd.Bind(fs)
	c.app.Bind(fs)
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	cli, err := c.etcd.Dial(ctx, s.Log)
	if err != nil {
		return err
	}
	s.OnClose(func() { cli.Close() })
	if err := app.Start(s, c.app, app.Deps{Etcd: cli}); err != nil {
		return err
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}
