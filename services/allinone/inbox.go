package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/agent/harvester"
)

// inboxRescan is how often the inbox is looked at for new folders and files.
const inboxRescan = 3 * time.Second

// inboxConfig is the agent's harvester on the watched directory: every
// folder in it is a dataset (inbox/nginx.access/**/*.log, a harvester
// dataset_folders input, so a new folder is read without a restart); files
// directly in it belong to dataset.
func inboxConfig(dir, dataset, registry, router, host string) harvester.Config {
	return harvester.Config{
		Host:     host,
		Registry: registry,
		Routers:  []string{router},
		// The registry is written at most every second: a crash resends at
		// most that second's lines (same event ids: deduplicated downstream).
		RegistryFlush: time.Second,
		Inputs: []harvester.Input{
			{Name: "inbox-files", Dataset: dataset, ScanInterval: inboxRescan, Paths: []string{filepath.Join(dir, "*.log")}},
			{Name: "inbox", DatasetFolders: dir, ScanInterval: inboxRescan},
		},
	}
}

// startHarvester ships the files under --watch to this process's router.
func (c *config) startHarvester(s *server.Server, dataDir, self string) error {
	watch := c.Watch
	if watch == "" {
		watch = filepath.Join(dataDir, "inbox")
	}
	if err := os.MkdirAll(watch, 0o777); err != nil {
		return fmt.Errorf("--watch: %w", err)
	}
	host, _ := os.Hostname()
	cfg := inboxConfig(watch, c.WatchDataset, filepath.Join(dataDir, "harvester-registry.json"), self, host)
	// The all-in-one's internal token (when authentication is on).
	cfg.DialOptions = []grpc.DialOption{s.Credentials()}
	h, err := harvester.New(cfg, component(s, "harvester"), s.Registry)
	if err != nil {
		return err
	}
	s.Go(h.Run)
	return nil
}
