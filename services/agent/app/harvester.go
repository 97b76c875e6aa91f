package app

import (
	"context"
	"flag"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/agent/harvester"
)

// harvest tails log files and ships them to the routers; it is on when
// --harvester-config or --harvester-paths is given. The node name is the
// host name in every event's source.
type harvest struct{ flags harvester.Flags }

func (h *harvest) bind(fs *flag.FlagSet) { h.flags.Bind(fs) }

func (h *harvest) setup(ctx context.Context, s *server.Server, node string) error {
	return h.flags.Setup(ctx, s, node)
}
