// Command gateway serves Hindsight's REST/JSON API (all four gRPC APIs through
// grpc-gateway), the OpenAPI document, /healthz, the live topology page
// (/topology/) and the time machine's replays and search page (/replays/,
// /search) on --http-addr, with optional bearer-token auth and per-client
// rate limits. Its own gRPC port carries only health and reflection;
// /metrics is on the admin port. See services/gateway/app.
package main

import (
	"context"
	"flag"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/gateway/app"
)

const name = "gateway"

type config struct {
	server.Flags
	endpoints app.Deps
	app       app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoints.Membership, "membership-endpoint", "localhost:9301", "gRPC address of the membership service (empty: not served)")
	fs.StringVar(&c.endpoints.Routing, "routing-endpoint", "localhost:9101", "gRPC address of the routing service (empty: not served)")
	fs.StringVar(&c.endpoints.Replay, "replay-endpoint", "localhost:9201", "gRPC address of the replay service (empty: not served)")
	fs.StringVar(&c.endpoints.Topology, "topology-endpoint", "localhost:9501", "gRPC address of the topology service (empty: not served)")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9401", ":9402", c.bind, c.setup)
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	d := c.endpoints
	d.DrainTimeout = c.ShutdownTimeout
	return app.Start(ctx, s, c.app, d)
}
