package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	// The all-in-one's archive is a directory under --data-dir.
	_ "gocloud.dev/blob/fileblob"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	archiverapp "github.com/hindsight-dev/hindsight/services/archiver/app"
	indexerapp "github.com/hindsight-dev/hindsight/services/indexer/app"
	replayapp "github.com/hindsight-dev/hindsight/services/replay/app"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
	routerapp "github.com/hindsight-dev/hindsight/services/router/app"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
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

// startPipeline runs the log pipeline of the split services in this
// process: router → embedded Kafka-protocol buffer (kfake, persisted under
// --data-dir/kafka, fsync per produce) → archiver (the filesystem archive)
// and indexer (into the embedded live index), and replay over the archive,
// searching the live index. It returns how to reach the buffer; the
// harvester starts separately once the gRPC port is known.
func (c *config) startPipeline(ctx context.Context, s *server.Server, etcd *etcdembed.Etcd, dataDir string) (*buffer, error) {
	seed, err := catalog.ParseConfig([]byte(builtinCatalog))
	if err != nil {
		return nil, fmt.Errorf("built-in catalog: %w", err)
	}
	kafkaDir := filepath.Join(dataDir, "kafka")
	// The buffer listens on a loopback TCP port: SCRAM authentication keeps
	// other users of this host out (the apps, in-process, have the secret).
	secret, err := ensureBufferSecret(dataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded Kafka-protocol buffer credential: %w", err)
	}
	kf, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(c.KafkaPort),
		kfake.DataDir(kafkaDir),
		kfake.SyncWrites(),
		kfake.DefaultNumPartitions(1),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", bufferUser, secret),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded Kafka-protocol buffer in %s: %w", kafkaDir, err)
	}
	bufferOpts := append([]kgo.Opt{bufferAuth(secret)}, quickTopics...)
	// Closed last (OnClose runs after every job has returned): the consumers'
	// final flushes and commits still reach it.
	s.OnClose(kf.Close)
	brokers := kf.ListenAddrs()

	if err := routerapp.Start(s, c.apps.router, routerapp.Deps{
		Etcd: etcd.Client(), Brokers: brokers, ClientOpts: []kgo.Opt{bufferAuth(secret)}, Seed: seed, DrainTimeout: c.ShutdownTimeout, Log: component(s, "router"),
	}); err != nil {
		return nil, err
	}
	archiveURL := "file://" + filepath.ToSlash(filepath.Join(dataDir, "archive"))
	arch, err := archive.Open(ctx, archiveURL)
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { arch.Close() })
	if err := archiverapp.Start(s, c.apps.archiver, archiverapp.Deps{
		Archive: arch, Brokers: brokers, ClientOpts: bufferOpts, Log: component(s, "archiver"),
	}); err != nil {
		return nil, err
	}
	live, err := openLive(filepath.Join(dataDir, "live"), c.Live.Options(s.Registry))
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { _ = live.Close() })
	if err := indexerapp.Start(s, c.apps.indexer, indexerapp.Deps{
		Brokers: brokers, ClientOpts: bufferOpts, Log: component(s, "indexer"),
		NewSink: func(b indexerapp.Batch) (kafkaconsume.Sink, error) { return newLiveSink(live, b), nil },
	}); err != nil {
		return nil, err
	}
	replays, err := embedded.New(filepath.Join(dataDir, "replays"))
	if err != nil {
		return nil, err
	}
	if err := replayapp.Start(s, c.apps.replay, replayapp.Deps{
		Etcd: etcd.Client(), ArchiveURL: archiveURL, Embedded: replays, Live: live, Log: component(s, "replay"),
	}); err != nil {
		return nil, err
	}
	s.Log.Info("log pipeline", "buffer", brokers, "buffer_dir", kafkaDir, "buffer_user", bufferUser, "buffer_secret_file", filepath.Join(dataDir, bufferSecretName))
	return &buffer{brokers: brokers, opts: bufferOpts}, nil
}
