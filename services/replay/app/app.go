// Package app is the replay service (the time machine) as one unit: its
// flags, with the defaults and limits the service owns, and Start, which
// serves hindsight.replay.v1.ReplayService on a server. The replay binary
// dials etcd and opens its index backends from flags; the all-in-one calls
// the same Start with its embedded etcd, archive directory and indices.
package app

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/api"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/container"
)

// Flags are the replay service's settings.
type Flags struct {
	LegacyURL      string
	EtcdPrefix     string
	ContainerImage string
	ContainerNet   string
	Target         string
	MaxConcurrent  int
	MaxEventsTotal int64
	MaxReplays     int
	MaxPerCreator  int
	ContainerMem   int64
	ContainerCPUs  float64
	MaxRange       time.Duration
	DefaultTTL     time.Duration
	MinTTL         time.Duration
	ExpiryTick     time.Duration
	Workers        int
	Batch          int
}

// Bind registers the flags on fs with the service's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.LegacyURL, "legacy-url", "", "tree of raw .gz log files laid out by date that replays may read instead (empty: none)")
	fs.StringVar(&f.EtcdPrefix, "etcd-prefix", api.DefaultPrefix, "etcd key prefix of the replay state")
	fs.StringVar(&f.ContainerImage, "container-image", "", "OpenSearch image (local) to run one container per replay through the Docker engine (empty: no container target)")
	fs.StringVar(&f.ContainerNet, "container-network", "", "Docker network the replay containers join, when this service runs on it (empty: their port is published on the host's loopback)")
	fs.StringVar(&f.Target, "target", "embedded", "default target: embedded, opensearch or container")
	fs.IntVar(&f.MaxConcurrent, "max-concurrent", 4, "replays loading at once (0: no limit)")
	fs.Int64Var(&f.MaxEventsTotal, "max-events-total", 1_000_000_000, "events of all replays together (0: no limit)")
	fs.IntVar(&f.MaxReplays, "max-replays", 100, "replays kept at once, in any state (0: no limit)")
	fs.IntVar(&f.MaxPerCreator, "max-per-creator", 20, "replays one principal may keep at once (0: no limit)")
	fs.Int64Var(&f.ContainerMem, "container-memory-mib", 1024, "memory limit of each replay container, MiB (0: none)")
	fs.Float64Var(&f.ContainerCPUs, "container-cpus", 1, "CPU limit of each replay container, in cores (0: none)")
	fs.DurationVar(&f.MaxRange, "max-range", api.DefaultMaxRange, "longest time range of a replay")
	fs.DurationVar(&f.DefaultTTL, "default-ttl", api.DefaultTTL, "time to live of a replay that names none")
	fs.DurationVar(&f.MinTTL, "min-ttl", api.DefaultMinTTL, "shortest time to live a replay may ask for")
	fs.DurationVar(&f.ExpiryTick, "expiry-interval", api.DefaultExpiryTick, "how often expired replays are looked for")
	fs.IntVar(&f.Workers, "workers", api.DefaultWorkers, "files one replay loads at once")
	fs.IntVar(&f.Batch, "batch", api.DefaultBatch, "events per index request")
}

// Deps are what the service runs against.
type Deps struct {
	Etcd *clientv3.Client
	// ArchiveURL is the archive replays read (gocloud.dev/blob URL).
	ArchiveURL string
	// Embedded holds the embedded replay indices (the "embedded" target).
	Embedded index.Backend
	// OpenSearch is the "opensearch" target; nil: none.
	OpenSearch index.Backend
	// Live searches the live data; nil: live search unavailable.
	Live index.Index
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start registers the ReplayService on s and its loads and expiry as one of
// s's jobs.
func Start(s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	cfg := api.Config{
		Etcd:           d.Etcd,
		Prefix:         f.EtcdPrefix,
		ArchiveURL:     d.ArchiveURL,
		LegacyURL:      f.LegacyURL,
		Backends:       map[replayv1.Target_Kind]index.Backend{replayv1.Target_KIND_EMBEDDED: d.Embedded},
		Live:           d.Live,
		MaxRange:       f.MaxRange,
		DefaultTTL:     f.DefaultTTL,
		MinTTL:         f.MinTTL,
		ExpiryTick:     f.ExpiryTick,
		MaxConcurrent:  f.MaxConcurrent,
		MaxEventsTotal: f.MaxEventsTotal,
		MaxReplays:     f.MaxReplays,
		MaxPerCreator:  f.MaxPerCreator,
		Workers:        f.Workers,
		Batch:          f.Batch,
		Log:            log,
		Registerer:     s.Registry,
	}
	if d.OpenSearch != nil {
		cfg.Backends[replayv1.Target_KIND_OPENSEARCH_INDEX] = d.OpenSearch
	}
	if f.ContainerImage != "" {
		cb, err := container.New(container.Config{Image: f.ContainerImage, Network: f.ContainerNet,
			MemoryBytes: f.ContainerMem << 20, CPUs: f.ContainerCPUs, Log: log})
		if err != nil {
			return fmt.Errorf("--container-image: %w", err)
		}
		s.OnClose(func() { cb.Close() })
		cfg.Backends[replayv1.Target_KIND_OPENSEARCH_CONTAINER] = cb
	}
	switch f.Target {
	case "embedded":
		cfg.DefaultTarget = replayv1.Target_KIND_EMBEDDED
	case "opensearch":
		if d.OpenSearch == nil {
			return fmt.Errorf("--target opensearch needs --opensearch-url")
		}
		cfg.DefaultTarget = replayv1.Target_KIND_OPENSEARCH_INDEX
	case "container":
		if f.ContainerImage == "" {
			return fmt.Errorf("--target container needs --container-image")
		}
		cfg.DefaultTarget = replayv1.Target_KIND_OPENSEARCH_CONTAINER
	default:
		return fmt.Errorf("--target: %q is not embedded, opensearch or container", f.Target)
	}
	svc, err := api.New(cfg)
	if err != nil {
		return err
	}
	s.OnClose(svc.Close)
	s.Go(svc.Run)
	replayv1.RegisterReplayServiceServer(s.GRPC, svc)
	s.Health.SetServingStatus(replayv1.ReplayService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	// URLs may carry credentials: only say what is configured.
	log.Info("replay service", "legacy_tree", f.LegacyURL != "", "opensearch", d.OpenSearch != nil, "default_target", f.Target)
	return nil
}
