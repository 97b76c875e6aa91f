// Command render writes configuration files from etcd, confd-style: it
// watches the prefixes its templates read (the membership registry above
// all), renders Go templates, replaces each destination atomically when its
// content changes, after a check command accepted the candidate, and then
// runs a reload command. See package renderer for the config file
// and services/render/app.
//
//	render --config /etc/hindsight/render.yaml                # follow etcd
//	render --config ... --onetime                            # render once and exit (status 1 on failure)
//	render --config ... --noop                               # render and check; never replace or reload
//
// Each resource's health is served over gRPC as "hindsight.render.<name>"
// (NOT_SERVING while its last render failed; the file keeps its last good
// content) and as JSON at /status on the admin listener. A complete HAProxy
// setup (config, template, entrypoint running both in one container) is in
// e2e/loadbalancer/lbcluster/files. Every flag can also
// be set from the environment, e.g. --etcd-endpoints from HINDSIGHT_ETCD_ENDPOINTS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/logging"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/render/app"
)

const name = "render"

type config struct {
	etcdclient.Service
	app app.Flags
}

func (c *config) binary() server.Binary {
	return c.Binary(name, ":9901", ":9902", c.app.Bind, c.start)
}

func main() {
	c := new(config)
	if onetimeRequested() {
		os.Exit(c.onetime())
	}
	server.Main(c.binary())
}

// onetimeRequested peeks at the arguments and environment: --onetime runs
// without the server (no listeners, no signals to wait for).
func onetimeRequested() bool {
	for _, a := range os.Args[1:] {
		if a == "--onetime" || a == "-onetime" || a == "--onetime=true" || a == "-onetime=true" {
			return true
		}
	}
	v := os.Getenv(server.EnvPrefix + "_ONETIME")
	return v == "1" || v == "true"
}

func (c *config) onetime() int {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.binary().Bind(fs)
	if err := flagenv.Parse(fs, server.EnvPrefix, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	log, err := logging.New(os.Stderr, name, c.LogFormat, c.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := c.Etcd.Dial(ctx, log)
	if err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	defer cli.Close()
	r, err := app.New(c.app, cli, log, nil, nil)
	if err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	if err := r.Once(ctx); err != nil {
		log.Error("onetime render failed", "err", err)
		return 1
	}
	return 0
}

func (c *config) start(_ context.Context, s *server.Server, cli *clientv3.Client) error {
	// The process serves as long as it follows etcd; a failing resource is
	// reported on its own name (its file keeps the last good content).
	return app.Start(s, c.app, cli)
}
