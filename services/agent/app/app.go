// Package app is the agent as one unit: a set of independent components,
// each watching one thing on the node and feeding one Hindsight service:
//
//   - dockerwatch: containers labelled hindsight.service/hindsight.port are
//     registered with the membership service (see dockerwatch.go)
//   - harvester: tails log files and the containers' logs (with their
//     Docker metadata) and ships their lines to the routers (see
//     harvester.go)
//   - capture: watches the containers' HTTP, Redis and PostgreSQL traffic on
//     the Docker bridges and reports flows to the topology service (see
//     capture.go)
//
// Each component binds its own flags and sets itself up in its own file;
// adding one is a new file and one line in Flags.components.
package app

import (
	"context"
	"flag"
	"os"

	"github.com/hindsight-dev/hindsight/internal/server"
)

// component is one part of the agent: it binds its flags, and its setup
// registers its work on the server (s.Go, s.OnClose) when enabled.
type component interface {
	bind(fs *flag.FlagSet)
	setup(ctx context.Context, s *server.Server, node string) error
}

// Flags are the agent's settings: the node's name and every component's.
type Flags struct {
	Node        string
	dockerWatch dockerWatch
	harvest     harvest
	capture     captureTraffic
}

// components of the agent, in start order.
func (f *Flags) components() []component {
	return []component{&f.dockerWatch, &f.harvest, &f.capture}
}

// Bind registers the flags on fs with the agent's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&f.Node, "node", host, "name of this node, recorded on what the agent reports")
	for _, c := range f.components() {
		c.bind(fs)
	}
}

// Start sets up every enabled component on s.
func Start(ctx context.Context, s *server.Server, f *Flags) error {
	for _, c := range f.components() {
		if err := c.setup(ctx, s, f.Node); err != nil {
			return err
		}
	}
	return nil
}
