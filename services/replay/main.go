// Command replay is the time machine (hindsight.replay.v1.ReplayService): it
// replays past ranges of the archive (or of a legacy tree of raw .gz files)
// into isolated, searchable indices, and searches them and the live indices.
//
// Every flag can also be set from the environment, e.g. --archive-url from
// HINDSIGHT_ARCHIVE_URL.
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	// The archive and legacy-tree URL schemes this binary reads.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/server"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/api"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/container"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
	"github.com/hindsight-dev/hindsight/services/replay/index/opensearch"
)

const name = "replay"

type config struct {
	server.Flags
	ArchiveURL     string
	LegacyURL      string
	EtcdEndpoints  string
	EtcdPrefix     string
	OpenSearchURL  string
	ContainerImage string
	ContainerNet   string
	Target         string
	DataDir        string
	MaxConcurrent  int
	MaxEventsTotal int64
	MaxRange       time.Duration
	DefaultTTL     time.Duration
	MinTTL         time.Duration
	ExpiryTick     time.Duration
	Workers        int
	Batch          int
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9201", ":9202")
	fs.StringVar(&c.ArchiveURL, "archive-url", "file:///data/archive", "archive to replay from (file:///dir or s3://bucket?...)")
	fs.StringVar(&c.LegacyURL, "legacy-url", "", "tree of raw .gz log files laid out by date that replays may read instead (empty: none)")
	fs.StringVar(&c.EtcdEndpoints, "etcd-endpoints", "localhost:2379", "comma-separated etcd endpoints (replay state)")
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", api.DefaultPrefix, "etcd key prefix of the replay state")
	fs.StringVar(&c.OpenSearchURL, "opensearch-url", "", "OpenSearch for replay indices and live search (empty: embedded indices only, no live search)")
	fs.StringVar(&c.ContainerImage, "container-image", "", "OpenSearch image (local) to run one container per replay through the Docker engine (empty: no container target)")
	fs.StringVar(&c.ContainerNet, "container-network", "", "Docker network the replay containers join, when this service runs on it (empty: their port is published on the host's loopback)")
	fs.StringVar(&c.Target, "target", "embedded", "default target: embedded, opensearch or container")
	fs.StringVar(&c.DataDir, "data-dir", "replays", "directory of the embedded indices")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent", 4, "replays loading at once (0: no limit)")
	fs.Int64Var(&c.MaxEventsTotal, "max-events-total", 1_000_000_000, "events of all replays together (0: no limit)")
	fs.DurationVar(&c.MaxRange, "max-range", api.DefaultMaxRange, "longest time range of a replay")
	fs.DurationVar(&c.DefaultTTL, "default-ttl", api.DefaultTTL, "time to live of a replay that names none")
	fs.DurationVar(&c.MinTTL, "min-ttl", api.DefaultMinTTL, "shortest time to live a replay may ask for")
	fs.DurationVar(&c.ExpiryTick, "expiry-interval", api.DefaultExpiryTick, "how often expired replays are looked for")
	fs.IntVar(&c.Workers, "workers", api.DefaultWorkers, "files one replay loads at once")
	fs.IntVar(&c.Batch, "batch", api.DefaultBatch, "events per index request")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	cli, err := etcdclient.Dial(c.EtcdEndpoints, 5*time.Second, s.Log)
	if err != nil {
		return err
	}
	s.OnClose(func() { cli.Close() })

	cfg := api.Config{
		Etcd:           cli,
		Prefix:         c.EtcdPrefix,
		ArchiveURL:     c.ArchiveURL,
		LegacyURL:      c.LegacyURL,
		Backends:       map[replayv1.Target_Kind]index.Backend{},
		MaxRange:       c.MaxRange,
		DefaultTTL:     c.DefaultTTL,
		MinTTL:         c.MinTTL,
		ExpiryTick:     c.ExpiryTick,
		MaxConcurrent:  c.MaxConcurrent,
		MaxEventsTotal: c.MaxEventsTotal,
		Workers:        c.Workers,
		Batch:          c.Batch,
		Log:            s.Log,
		Registerer:     s.Registry,
	}
	emb, err := embedded.New(c.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	cfg.Backends[replayv1.Target_KIND_EMBEDDED] = emb
	if c.OpenSearchURL != "" {
		os, err := opensearch.New(c.OpenSearchURL)
		if err != nil {
			return fmt.Errorf("--opensearch-url: %w", err)
		}
		cfg.Backends[replayv1.Target_KIND_OPENSEARCH_INDEX] = os
		cfg.Live = os.Live()
	}
	if c.ContainerImage != "" {
		cb, err := container.New(container.Config{Image: c.ContainerImage, Network: c.ContainerNet, Log: s.Log})
		if err != nil {
			return fmt.Errorf("--container-image: %w", err)
		}
		s.OnClose(func() { cb.Close() })
		cfg.Backends[replayv1.Target_KIND_OPENSEARCH_CONTAINER] = cb
	}
	switch c.Target {
	case "embedded":
		cfg.DefaultTarget = replayv1.Target_KIND_EMBEDDED
	case "opensearch":
		if c.OpenSearchURL == "" {
			return fmt.Errorf("--target opensearch needs --opensearch-url")
		}
		cfg.DefaultTarget = replayv1.Target_KIND_OPENSEARCH_INDEX
	case "container":
		if c.ContainerImage == "" {
			return fmt.Errorf("--target container needs --container-image")
		}
		cfg.DefaultTarget = replayv1.Target_KIND_OPENSEARCH_CONTAINER
	default:
		return fmt.Errorf("--target: %q is not embedded, opensearch or container", c.Target)
	}
	svc, err := api.New(cfg)
	if err != nil {
		return err
	}
	s.OnClose(svc.Close)
	s.Go(svc.Run)
	replayv1.RegisterReplayServiceServer(s.GRPC, svc)
	s.Health.SetServingStatus(replayv1.ReplayService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	// URLs may carry credentials: only say what is configured.
	s.Log.Info("replay service", "legacy_tree", c.LegacyURL != "", "opensearch", c.OpenSearchURL != "", "default_target", c.Target)
	return nil
}
