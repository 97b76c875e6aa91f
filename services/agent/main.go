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
	server.Main(server.Binary{Name: name, Flags: &c.Flags, Bind: c.bind, Setup: c.setup})
}

func (c *config) setup(ctx context.Context, s *server.Server) error { return app.Start(ctx, s, &c.app) }
