package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/archiver/sink"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/router/app"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
	"github.com/hindsight-dev/hindsight/services/router/ingest"
)

// builtinCatalog declares the datasets the all-in-one knows how to parse
// (the demo writes these); other inbox folders become raw datasets on first
// use. One partition, one replica: the embedded buffer is a single broker.
const builtinCatalog = `
defaults:
  topic: {partitions: 1, replication_factor: 1, retention: 168h, compression: zstd}
datasets:
  - {name: nginx.access, description: "nginx combined access log", parser: {format: combined}}
  - {name: app, description: "JSON application logs", parser: {format: json}}
  - {name: syslog, description: "RFC 3164 syslog", parser: {format: syslog}}
`

// quickTopics makes the consumers see a new dataset's topic within a second
// (the default metadata age is minutes: fine for a cluster whose topics are
// declared ahead, slow for a first look at the all-in-one).
var quickTopics = []kgo.Opt{kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(250 * time.Millisecond)}

// setupPipeline runs the log pipeline of the split services in this process:
// router → embedded Kafka-protocol buffer (kfake, persisted under
// --data-dir/kafka, fsync per produce) → archiver (the filesystem archive)
// and a live indexer (an embedded index the replay service's live search
// reads). It returns the live index; the harvester starts separately once
// the gRPC port is known.
func (c *config) setupPipeline(ctx context.Context, s *server.Server, etcd *etcdembed.Etcd, dataDir string) (index.Index, error) {
	file, err := catalog.ParseConfig([]byte(builtinCatalog))
	if err != nil {
		return nil, fmt.Errorf("built-in catalog: %w", err)
	}
	kafkaDir := filepath.Join(dataDir, "kafka")
	kf, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(c.KafkaPort),
		kfake.DataDir(kafkaDir),
		kfake.SyncWrites(),
		kfake.DefaultNumPartitions(1),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded Kafka-protocol buffer in %s: %w", kafkaDir, err)
	}
	// Closed last (OnClose runs after every job has returned): the consumers'
	// final flushes and commits still reach it.
	s.OnClose(kf.Close)
	brokers := kf.ListenAddrs()

	// Router: the same wiring as the router binary, producing into kfake.
	if err := app.Start(s, app.Config{
		Etcd: etcd.Client(),
		File: file,
		Producer: ingest.ProducerConfig{
			Brokers:            brokers,
			ClientID:           "hindsight-router",
			Linger:             10 * time.Millisecond,
			BatchMaxBytes:      ingest.DefaultBatchMaxBytes,
			MaxBufferedRecords: 50000,
			DeliveryTimeout:    30 * time.Second,
		},
		AutoCreate:        true,
		ReconcileInterval: 5 * time.Minute,
		DrainTimeout:      c.ShutdownTimeout,
		Log:               s.Log.With("component", "router"),
	}); err != nil {
		return nil, err
	}

	// Archiver.
	arch, err := archive.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(dataDir, "archive")))
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { arch.Close() })
	w, err := sink.New(arch, sink.Options{FlushBytes: 16 << 20, FlushInterval: c.ArchiveFlush, Log: s.Log.With("component", "archiver"), Registerer: s.Registry})
	if err != nil {
		return nil, err
	}
	cons, err := kafkaconsume.New(kafkaconsume.Config{Brokers: brokers, Group: "hindsight-archiver", TopicsRegex: kafkaconsume.DefaultTopicsRegex, ClientOpts: quickTopics},
		w, "archiver", s.Log.With("component", "archiver"), s.Registry)
	if err != nil {
		return nil, err
	}
	s.Go(cons.Run)

	// Live indexer.
	live, err := openLive(filepath.Join(dataDir, "live"))
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { _ = live.Close() })
	lcons, err := kafkaconsume.New(kafkaconsume.Config{Brokers: brokers, Group: "hindsight-live-indexer", TopicsRegex: kafkaconsume.DefaultTopicsRegex, ClientOpts: quickTopics},
		newLiveSink(live), "live_indexer", s.Log.With("component", "live-indexer"), s.Registry)
	if err != nil {
		return nil, err
	}
	s.Go(lcons.Run)
	s.Log.Info("log pipeline", "buffer", brokers, "buffer_dir", kafkaDir)
	return live, nil
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
	inbox := &inbox{
		dir:      watch,
		dataset:  c.WatchDataset,
		registry: filepath.Join(dataDir, "harvester-registry.json"),
		router:   self,
		host:     host,
		log:      s.Log.With("component", "harvester"),
		reg:      s.Registry,
	}
	s.Go(inbox.run)
	return nil
}
