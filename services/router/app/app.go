// Package app wires one router onto a server: the catalog of datasets
// and routes in etcd, the Kafka producer, the topic reconciler, the ingest
// path and the RoutingService, with their lifecycle (seed, watch, reconcile,
// drain on shutdown). The router binary and the all-in-one both start it, so
// there is one router, whatever runs it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// Config is what a router needs besides its server.
type Config struct {
	Etcd *clientv3.Client
	// Prefix of the catalog in etcd (default catalog.DefaultPrefix).
	Prefix string
	// File, if set, is seeded into etcd at start-up; Overwrite makes it win
	// over what etcd holds for the entries it declares.
	File      *catalog.Config
	Overwrite bool
	Producer  ingest.ProducerConfig
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

// Start registers the RoutingService on s (NOT_SERVING until the catalog has
// loaded) and its background jobs. It contacts neither etcd nor Kafka itself.
func Start(s *server.Server, c Config) error {
	opts := catalog.Options{Prefix: c.Prefix, Log: c.Log}
	if c.File != nil {
		opts.Defaults = &c.File.Defaults
	}
	store := catalog.New(c.Etcd, opts)
	producer, err := ingest.NewClient(c.Producer)
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
