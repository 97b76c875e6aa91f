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
	server.Main(server.Binary{Name: name, Flags: &c.Flags, Bind: c.bind, Setup: c.setup})
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	cli, err := c.etcd.Connect(ctx, s)
	if err != nil {
		return err
	}
	return app.Start(s, c.app, app.Deps{Etcd: cli})
}
