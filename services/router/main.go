// Command router is the "logmaster": it receives batches of raw lines from
// the agents, parses them, routes each event to its Kafka topic and
// acknowledges a batch only once Kafka has committed every record in it
// (hindsight.routing.v1.RoutingService). Datasets and routes live in etcd,
// seeded from --config and editable through the API; topics are created and
// their retention and compression kept as declared.
//
// Every flag can also be set from the environment, e.g. --kafka-brokers from
// HINDSIGHT_KAFKA_BROKERS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/router/app"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
	"github.com/hindsight-dev/hindsight/services/router/ingest"
)

const name = "router"

// config is everything the router binary is told by flags.
type config struct {
	server.Flags
	KafkaBrokers       string
	EtcdEndpoints      string
	EtcdPrefix         string
	EtcdDialTimeout    time.Duration
	ConfigFile         string
	ConfigOverwrite    bool
	AutoCreate         bool
	Linger             time.Duration
	BatchMaxBytes      int
	MaxBufferedRecords int
	ProduceTimeout     time.Duration
	MaxInFlight        int
	ReconcileInterval  time.Duration
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9101", ":9102")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.EtcdEndpoints, "etcd-endpoints", "localhost:2379", "comma-separated etcd endpoints")
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", catalog.DefaultPrefix, "etcd key prefix datasets and routes are stored under")
	fs.DurationVar(&c.EtcdDialTimeout, "etcd-dial-timeout", 5*time.Second, "how long to wait for etcd when connecting")
	fs.StringVar(&c.ConfigFile, "config", "", "YAML file of datasets, routes and topic defaults, seeded into etcd at start-up (empty: none)")
	fs.BoolVar(&c.ConfigOverwrite, "config-overwrite", false, "make the config file win over etcd for the entries it declares (default: etcd wins; the file only adds missing entries)")
	fs.BoolVar(&c.AutoCreate, "auto-create-datasets", true, "create unknown datasets on first use (raw parser, default topic settings) instead of refusing their batches")
	fs.DurationVar(&c.Linger, "producer-linger", 10*time.Millisecond, "how long a partition's batch waits for more records")
	fs.IntVar(&c.BatchMaxBytes, "producer-batch-max-bytes", ingest.DefaultBatchMaxBytes, "largest record batch; at most the brokers' message.max.bytes")
	fs.IntVar(&c.MaxBufferedRecords, "producer-max-buffered-records", 50000, "records awaiting Kafka's acknowledgement before ingest blocks (back-pressure on agents)")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", 30*time.Second, "fail a batch whose records Kafka has not acknowledged in this time, so the agent resends it (0: retry for ever)")
	fs.IntVar(&c.MaxInFlight, "max-inflight-batches", ingest.DefaultMaxInFlight, "unacknowledged batches per Ingest stream before the router stops reading it")
	fs.DurationVar(&c.ReconcileInterval, "topic-reconcile-interval", 5*time.Minute, "how often topics are checked against the catalog besides on every change")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

// setup wires the router on s. It contacts neither etcd nor Kafka: the
// catalog loads in the background, and the router reports NOT_SERVING until
// it has.
func (c *config) setup(_ context.Context, s *server.Server) error {
	var file *catalog.Config
	if c.ConfigFile != "" {
		var err error
		if file, err = catalog.LoadConfig(c.ConfigFile); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	brokers := flagenv.List(c.KafkaBrokers)
	if len(brokers) == 0 {
		return errors.New("--kafka-brokers: at least one broker required")
	}

	cli, err := etcdclient.Dial(c.EtcdEndpoints, c.EtcdDialTimeout, s.Log)
	if err != nil {
		return err
	}
	s.OnClose(func() { cli.Close() })
	// The overall health follows the router's: NOT_SERVING until the catalog loads.
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return app.Start(s, app.Config{
		Etcd:      cli,
		Prefix:    c.EtcdPrefix,
		File:      file,
		Overwrite: c.ConfigOverwrite,
		Producer: ingest.ProducerConfig{
			Brokers:            brokers,
			ClientID:           "hindsight-router",
			Linger:             c.Linger,
			BatchMaxBytes:      int32(c.BatchMaxBytes),
			MaxBufferedRecords: c.MaxBufferedRecords,
			DeliveryTimeout:    c.ProduceTimeout,
		},
		AutoCreate:        c.AutoCreate,
		MaxInFlight:       c.MaxInFlight,
		ReconcileInterval: c.ReconcileInterval,
		DrainTimeout:      c.ShutdownTimeout,
		Log:               s.Log,
		OnReady: func(snap *catalog.Snapshot) {
			s.Log.Info("catalog loaded; serving", "datasets", len(snap.Datasets), "routes", len(snap.Routes), "revision", snap.Revision)
			s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		},
	})
}
