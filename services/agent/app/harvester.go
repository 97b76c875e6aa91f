package app

import (
	"context"
	"flag"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/agent/containers"
	"github.com/hindsight-dev/hindsight/services/agent/harvester"
)

// harvest tails log files and ships them to the routers; it is on when
// --harvester-config, --harvester-paths, --harvester-dataset-folders or
// --harvester-containers is given. The node name is the host name in every
// event's source.
type harvest struct {
	flags      harvester.Flags
	containers containers.Flags
}

func (h *harvest) bind(fs *flag.FlagSet) {
	h.flags.Bind(fs)
	h.containers.Bind(fs)
}

func (h *harvest) setup(ctx context.Context, s *server.Server, node string) error {
	var dynamic []harvester.Dynamic
	if h.containers.Enabled {
		d, err := h.containers.Dynamic(s)
		if err != nil {
			return err
		}
		dynamic = append(dynamic, d)
	}
	return h.flags.Setup(ctx, s, node, dynamic...)
}
