// Package app is the router as one unit: its flags, with the defaults the
// router owns, and Start, which wires the catalog of datasets and routes in
// etcd, the Kafka producer, the topic reconciler, the ingest path and the
// RoutingService onto a server, with their lifecycle (seed, watch,
// reconcile, drain on shutdown). The router binary and the all-in-one both
// call Start, so there is one router, whatever runs it.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/server"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
	"github.com/hindsight-dev/hindsight/services/router/ingest"
	"github.com/hindsight-dev/hindsight/services/router/rules"
	"github.com/hindsight-dev/hindsight/services/router/topics"
)

// Flags are the router's settings.
type Flags struct {
	EtcdPrefix         string
	ConfigFile         string
	ConfigOverwrite    bool
	AutoCreate         bool
	Linger             time.Duration
	BatchMaxBytes      int
	MaxBufferedRecords int
	Compression        string
	ProduceTimeout     time.Duration
	MaxInFlight        int
	ReconcileInterval  time.Duration
}

// Bind registers the flags on fs with the router's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.EtcdPrefix, "etcd-prefix", catalog.DefaultPrefix, "etcd key prefix datasets and routes are stored under")
	fs.StringVar(&f.ConfigFile, "config", "", "YAML file of datasets, routes and topic defaults, seeded into etcd at start-up (empty: none)")
	fs.BoolVar(&f.ConfigOverwrite, "config-overwrite", false, "make the config file win over etcd for the entries it declares (default: etcd wins; the file only adds missing entries)")
	fs.BoolVar(&f.AutoCreate, "auto-create-datasets", true, "create unknown datasets on first use (raw parser, default topic settings) instead of refusing their batches")
	fs.DurationVar(&f.Linger, "producer-linger", 10*time.Millisecond, "how long a partition's batch waits for more records")
	fs.IntVar(&f.BatchMaxBytes, "producer-batch-max-bytes", ingest.DefaultBatchMaxBytes, "largest record batch; at most the brokers' message.max.bytes")
	fs.IntVar(&f.MaxBufferedRecords, "producer-max-buffered-records", 50000, "records awaiting Kafka's acknowledgement before ingest blocks (back-pressure on agents)")
	fs.StringVar(&f.Compression, "producer-compression", "lz4", "record batch compression: lz4, zstd, snappy, gzip or none (a topic's own compression.type, when not producer, makes the brokers recompress)")
	fs.DurationVar(&f.ProduceTimeout, "produce-timeout", 30*time.Second, "fail a batch whose records Kafka has not acknowledged in this time, so the agent resends it (0: retry for ever)")
	fs.IntVar(&f.MaxInFlight, "max-inflight-batches", ingest.DefaultMaxInFlight, "unacknowledged batches per Ingest stream before the router stops reading it")
	fs.DurationVar(&f.ReconcileInterval, "topic-reconcile-interval", 5*time.Minute, "how often topics are checked against the catalog besides on every change")
}

// Deps are what a router runs against.
type Deps struct {
	Etcd    *clientv3.Client
	Brokers []string
	// ClientOpts are extra Kafka client options (the all-in-one's buffer
	// credential).
	ClientOpts []kgo.Opt
	// Seed is seeded into etcd when --config names no file (the all-in-one's
	// built-in datasets).
	Seed *catalog.Config
	// DrainTimeout bounds finishing the batches in flight at shutdown.
	DrainTimeout time.Duration
	// Log defaults to the server's.
	Log *slog.Logger
	// OnReady runs once, when the catalog has loaded and the router serves.
	OnReady func(*catalog.Snapshot)
}

// Start registers the RoutingService on s (NOT_SERVING until the catalog has
// loaded) and its background jobs. It contacts neither etcd nor Kafka itself.
func Start(s *server.Server, f Flags, d Deps) error {
	file := d.Seed
	if f.ConfigFile != "" {
		var err error
		if file, err = catalog.LoadConfig(f.ConfigFile); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	if len(d.Brokers) == 0 {
		return errors.New("--kafka-brokers: at least one broker required")
	}
	log := s.LogOr(d.Log)
	return start(s, config{
		Etcd:      d.Etcd,
		Prefix:    f.EtcdPrefix,
		File:      file,
		Overwrite: f.ConfigOverwrite,
		Producer: ingest.ProducerConfig{
			Brokers:            d.Brokers,
			ClientID:           "hindsight-router",
			Linger:             f.Linger,
			BatchMaxBytes:      int32(f.BatchMaxBytes),
			MaxBufferedRecords: f.MaxBufferedRecords,
			Compression:        f.Compression,
			DeliveryTimeout:    f.ProduceTimeout,
		},
		ClientOpts:        d.ClientOpts,
		AutoCreate:        f.AutoCreate,
		MaxInFlight:       f.MaxInFlight,
		ReconcileInterval: f.ReconcileInterval,
		DrainTimeout:      d.DrainTimeout,
		Log:               log,
		OnReady:           d.OnReady,
	})
}

// config is a router's resolved configuration.
type config struct {
	Etcd *clientv3.Client
	// Prefix of the catalog in etcd (default catalog.DefaultPrefix).
	Prefix string
	// File, if set, is seeded into etcd at start-up; Overwrite makes it win
	// over what etcd holds for the entries it declares.
	File      *catalog.Config
	Overwrite bool
	Producer  ingest.ProducerConfig
	// ClientOpts are added to the producer's Kafka client options.
	ClientOpts []kgo.Opt
	// AutoCreate creates unknown datasets on first use.
	AutoCreate        bool
	MaxInFlight       int
	ReconcileInterval time.Duration
	// DrainTimeout bounds finishing the batches in flight at shutdown.
	DrainTimeout time.Duration
	Log          *slog.Logger
	// OnReady runs once, when the catalog has loaded and the router serves.
	OnReady func(*catalog.Snapshot)
}

// routingService is the RoutingService: the ingest methods from one
// package, the dataset and route methods from the catalog.
type routingService struct {
	*ingest.Ingester
	*catalog.Store
}

func start(s *server.Server, c config) error {
	opts := catalog.Options{Prefix: c.Prefix, Log: c.Log}
	if c.File != nil {
		opts.Defaults = &c.File.Defaults
	}
	store := catalog.New(c.Etcd, opts)
	producer, err := ingest.NewClient(c.Producer, c.ClientOpts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	s.OnClose(producer.Close)
	reconciler, err := topics.New(kadm.NewClient(producer), c.Log, s.Registry)
	if err != nil {
		return err
	}
	ing, err := ingest.New(ingest.Options{
		Producer:      producer,
		BatchMaxBytes: c.Producer.BatchMaxBytes,
		AutoCreate:    c.AutoCreate,
		Catalog:       store,
		Topics:        reconciler,
		MaxInFlight:   c.MaxInFlight,
		Log:           c.Log,
		Registerer:    s.Registry,
	})
	if err != nil {
		return err
	}
	routingv1.RegisterRoutingServiceServer(s.GRPC, routingService{ing, store})
	name := routingv1.RoutingService_ServiceDesc.ServiceName
	s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)

	s.Go(func(ctx context.Context) error {
		if c.File != nil {
			if err := seed(ctx, c.Log, store, c.File, c.Overwrite); err != nil {
				return err
			}
		}
		ready := false
		return store.Watch(ctx, func(snap *catalog.Snapshot) {
			ing.SetTable(rules.Compile(snap.Datasets, snap.Routes, c.Log))
			reconciler.Want(topics.Desired(snap.Datasets, snap.Routes))
			if !ready {
				ready = true
				s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
				if c.OnReady != nil {
					c.OnReady(snap)
				}
			}
		})
	})
	s.Go(func(ctx context.Context) error { return reconciler.Run(ctx, c.ReconcileInterval) })
	s.Go(func(ctx context.Context) error {
		<-ctx.Done()
		// Shutting down: finish the batches in flight, then flush.
		dctx, cancel := context.WithTimeout(context.Background(), c.DrainTimeout)
		defer cancel()
		if err := ing.Drain(dctx); err != nil {
			c.Log.Warn("shutdown before every batch was produced; agents will resend them", "err", err)
		}
		return nil
	})
	return nil
}

// seed writes the config file into etcd, waiting for etcd if it is not up;
// a file etcd refuses (a route of an unknown dataset) stops the router.
func seed(ctx context.Context, log *slog.Logger, store *catalog.Store, file *catalog.Config, overwrite bool) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		err := store.Seed(ctx, file, overwrite)
		switch {
		case err == nil || ctx.Err() != nil:
			return nil
		case status.Code(err) != codes.Unavailable:
			return fmt.Errorf("--config: %w", err)
		}
		log.Warn("etcd not reachable; retrying to seed the configuration", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
