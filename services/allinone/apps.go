package main

import (
	"flag"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	archiverapp "github.com/hindsight-dev/hindsight/services/archiver/app"
	gatewayapp "github.com/hindsight-dev/hindsight/services/gateway/app"
	indexerapp "github.com/hindsight-dev/hindsight/services/indexer/app"
	membershipapp "github.com/hindsight-dev/hindsight/services/membership/app"
	replayapp "github.com/hindsight-dev/hindsight/services/replay/app"
	routerapp "github.com/hindsight-dev/hindsight/services/router/app"
	topologyapp "github.com/hindsight-dev/hindsight/services/topology/app"
)

// apps are the services the all-in-one runs: the app packages the split
// binaries run, with their flags under the app's name
// (--replay.max-concurrent, env HINDSIGHT_REPLAY_MAX_CONCURRENT) and their
// defaults, except the few in allInOneDefaults.
type apps struct {
	router     routerapp.Flags
	membership membershipapp.Flags
	replay     replayapp.Flags
	topology   topologyapp.Flags
	archiver   archiverapp.Flags
	indexer    indexerapp.Flags
	gateway    gatewayapp.Flags
}

// binds are the apps' flag binders by flag prefix.
func (a *apps) binds() map[string]func(*flag.FlagSet) {
	return map[string]func(*flag.FlagSet){
		"router.":     a.router.Bind,
		"membership.": a.membership.Bind,
		"replay.":     a.replay.Bind,
		"topology.":   a.topology.Bind,
		"archiver.":   a.archiver.Bind,
		"indexer.":    a.indexer.Bind,
		"gateway.":    a.gateway.Bind,
	}
}

// allInOneDefaults are the only defaults that differ from the split
// binaries', each for a reason of running on one machine for a first look.
var allInOneDefaults = map[string]string{
	// One process has little to batch: the archive (and so a replay of what
	// was just dropped into the inbox) follows within seconds instead of the
	// archiver binary's 5 minutes, at the cost of smaller objects.
	"archiver.flush-interval": "10s",
	// Loopback unless asked otherwise: beyond it, tokens are required.
	"gateway.http-addr": "127.0.0.1:8080",
}

func (a *apps) bind(fs *flag.FlagSet) {
	for prefix, bind := range a.binds() {
		flagenv.Prefixed(fs, prefix, bind)
	}
	for name, v := range allInOneDefaults {
		f := fs.Lookup(name)
		if err := f.Value.Set(v); err != nil {
			panic(name + ": " + err.Error())
		}
		f.DefValue = v
	}
}
