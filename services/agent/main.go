// Command agent runs on every node. It is a set of independent components,
// each watching one thing on the node and feeding one Hindsight service:
//
//   - dockerwatch: containers labelled hindsight.service/hindsight.port are
//     registered with the membership service (see dockerwatch_setup.go)
//   - harvester: tails log files and ships their lines to the routers (see
//     harvester_setup.go)
//   - capture: watches the containers' HTTP, Redis and PostgreSQL traffic on
//     the Docker bridges and reports flows to the topology service (see
//     capture_setup.go)
//
// Each component binds its own flags and sets itself up in its own file;
// adding one is a new file and one line in components below.
//
// Every flag can also be set from the environment, e.g. --node from
// HINDSIGHT_NODE.
package main

import (
	"context"
	"flag"
	"os"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
)

const name = "agent"

// component is one part of the agent: it binds its flags, and its setup
// registers its work on the server (s.Go, s.OnClose) when enabled.
type component interface {
	bind(fs *flag.FlagSet)
	setup(ctx context.Context, s *server.Server, node string) error
}

// components of the agent, in start order.
var components = []component{
	&dockerWatch{},
	&harvest{},
	&captureTraffic{},
}

type config struct {
	server.Flags
	Node string
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	host, _ := os.Hostname()
	c.Flags.Bind(fs, ":9801", ":9802")
	fs.StringVar(&c.Node, "node", host, "name of this node, recorded on what the agent reports")
	for _, comp := range components {
		comp.bind(fs)
	}
	server.Main(name, fs, &c.Flags, func(ctx context.Context, s *server.Server) error {
		for _, comp := range components {
			if err := comp.setup(ctx, s, c.Node); err != nil {
				return err
			}
		}
		s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		return nil
	})
}
