package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/services/agent/harvester"
)

// inboxRescan is how often the watched directory is listed for new dataset
// folders.
const inboxRescan = 3 * time.Second

var datasetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// inbox runs the agent's harvester on a watched directory: every folder in
// it is a dataset (inbox/nginx.access/**/*.log), files directly in it belong
// to --watch-dataset. The harvester's inputs are fixed when it starts, so a
// new folder restarts it; its registry (acknowledged offsets) carries over.
type inbox struct {
	dir, dataset, registry, router, host string
	log                                  *slog.Logger
	reg                                  prometheus.Registerer
	creds                                grpc.DialOption // the all-in-one's internal token
}

// datasets lists the dataset folders, sorted.
func (b *inbox) datasets() []string {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		b.log.Warn("listing the watched directory", "dir", b.dir, "err", err)
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if !datasetName.MatchString(e.Name()) {
			b.log.Warn("folder skipped: not a dataset name (lower case letters, digits, '.', '_', '-')", "folder", e.Name())
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

func (b *inbox) config(datasets []string) harvester.Config {
	c := harvester.Config{
		Host:     b.host,
		Registry: b.registry,
		Routers:  []string{b.router},
		// The registry is written at most every second: a crash resends at
		// most that second's lines (same event ids: deduplicated downstream).
		RegistryFlush: time.Second,
		DialOptions:   []grpc.DialOption{b.creds},
	}
	c.Inputs = append(c.Inputs, harvester.Input{
		Name: "inbox", Dataset: b.dataset, ScanInterval: inboxRescan,
		Paths: []string{filepath.Join(b.dir, "*.log")},
	})
	for _, d := range datasets {
		dir := filepath.Join(b.dir, d)
		c.Inputs = append(c.Inputs, harvester.Input{
			Name: "inbox/" + d, Dataset: d, ScanInterval: inboxRescan,
			Paths: []string{filepath.Join(dir, "*.log"), filepath.Join(dir, "*", "*.log"), filepath.Join(dir, "*", "*", "*.log")},
		})
	}
	return c
}

func (b *inbox) run(ctx context.Context) error {
	reg := replacingRegisterer{b.reg}
	for {
		datasets := b.datasets()
		h, err := harvester.New(b.config(datasets), b.log, reg)
		if err != nil {
			return err
		}
		b.log.Info("harvesting", "dir", b.dir, "datasets", datasets)
		hctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.Run(hctx) }()
		changed := false
		t := time.NewTicker(inboxRescan)
		for !changed {
			select {
			case <-ctx.Done():
				t.Stop()
				stop()
				return <-done
			case err := <-done:
				t.Stop()
				stop()
				return err
			case <-t.C:
				changed = !slices.Equal(datasets, b.datasets())
			}
		}
		t.Stop()
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
}

// replacingRegisterer lets a restarted harvester register its metrics again:
// the previous instance's collectors are replaced.
type replacingRegisterer struct{ prometheus.Registerer }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registerer.Unregister(are.ExistingCollector)
		return r.Registerer.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}
