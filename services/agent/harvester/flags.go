package harvester

import (
	"context"
	"flag"
	"fmt"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
)

// Flags configure the harvester from the agent's command line: a config file,
// and/or one quick input, and overrides of the config file's shipping
// settings. Every flag also reads HINDSIGHT_<NAME> (see internal/flagenv).
type Flags struct {
	Config     string
	Paths      string
	Dataset    string
	Parser     string
	Folders    string
	Registry   string
	Routers    string
	Membership string
}

// Bind registers the flags on fs, all prefixed "harvester-" so that they
// cannot clash with the agent's other components.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Config, "harvester-config", "", "harvester YAML config file; the harvester is off without it, --harvester-paths, --harvester-dataset-folders or --harvester-containers")
	fs.StringVar(&f.Paths, "harvester-paths", "", "comma-separated glob patterns of one quick input (with --harvester-dataset)")
	fs.StringVar(&f.Dataset, "harvester-dataset", "", "dataset of the quick input, e.g. nginx.access")
	fs.StringVar(&f.Parser, "harvester-parser", "", "parser hint of the quick input, sent as the label \"parser\"")
	fs.StringVar(&f.Folders, "harvester-dataset-folders", "", "directory whose every folder is a dataset named after it (<dir>/nginx.access/*.log, up to 3 levels down); folders made later are picked up live")
	fs.StringVar(&f.Registry, "harvester-registry", "", "registry file (overrides the config's; default /var/lib/hindsight/harvester-registry.json)")
	fs.StringVar(&f.Routers, "harvester-routers", "", "comma-separated router gRPC addresses (overrides the config's)")
	fs.StringVar(&f.Membership, "harvester-membership", "", "membership service gRPC address to find healthy routers (overrides the config's)")
}

// DefaultRegistry is where the registry lives when neither flag nor config say.
const DefaultRegistry = "/var/lib/hindsight/harvester-registry.json"

// Enabled reports whether the flags ask for a harvester at all.
func (f *Flags) Enabled() bool { return f.Config != "" || f.Paths != "" || f.Folders != "" }

// Load builds the configuration the flags describe.
func (f *Flags) Load() (Config, error) {
	var c Config
	if f.Config != "" {
		var err error
		if c, err = LoadConfig(f.Config); err != nil {
			return c, err
		}
	}
	if f.Paths != "" {
		if f.Dataset == "" {
			return c, fmt.Errorf("--harvester-paths needs --harvester-dataset")
		}
		c.Inputs = append(c.Inputs, Input{Dataset: f.Dataset, Parser: f.Parser, Paths: flagenv.List(f.Paths)})
	}
	if f.Folders != "" {
		c.Inputs = append(c.Inputs, Input{DatasetFolders: f.Folders})
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Registry, f.Registry)
	set(&c.Membership, f.Membership)
	if f.Routers != "" {
		c.Routers = flagenv.List(f.Routers)
	}
	if c.Registry == "" {
		c.Registry = DefaultRegistry
	}
	return c, nil
}

// Setup starts a harvester as one of s's jobs when the flags or dynamic
// discoveries (the node's containers) enable it; it is stopped, drained and
// its registry saved at the server's shutdown. host is the node's name, used
// in event sources unless the config file sets one.
func (f *Flags) Setup(_ context.Context, s *server.Server, host string, dynamic ...Dynamic) error {
	if !f.Enabled() && len(dynamic) == 0 {
		s.Log.Info("harvester off: no --harvester-config, --harvester-paths, --harvester-dataset-folders or --harvester-containers")
		return nil
	}
	c, err := f.Load()
	if err != nil {
		return err
	}
	if c.Host == "" {
		c.Host = host
	}
	c.DialOptions = append(c.DialOptions, s.Credentials())
	h, err := New(c, s.Log.With("component", "harvester"), s.Registry, dynamic...)
	if err != nil {
		return err
	}
	s.Go(h.Run)
	return nil
}
