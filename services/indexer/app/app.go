// Package app is the indexer as one unit: its flags, with the defaults the
// indexer owns, and Start, which runs the Kafka consumer group feeding the
// dataset topics into a sink in bounded batches, committing offsets only
// behind indexed documents. The sink is a dependency: the indexer binary
// passes OpenSearch's _bulk API (services/indexer/bulk), the all-in-one its
// embedded live index.
package app

import (
	"flag"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
)

const name = "indexer"

// Flags are the indexer's settings.
type Flags struct {
	Kafka kafkaconsume.Flags
	Batch Batch
}

// Batch bounds what a sink sends in one request.
type Batch struct {
	Docs  int
	Bytes int
	// Interval is the longest a smaller batch waits before it is sent.
	Interval time.Duration
}

// Bind registers the flags on fs with the indexer's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	f.Kafka.Bind(fs, "hindsight-indexer")
	fs.IntVar(&f.Batch.Docs, "bulk-docs", 5000, "most documents in one bulk request")
	fs.IntVar(&f.Batch.Bytes, "bulk-bytes", 5<<20, "most bytes in one bulk request")
	fs.DurationVar(&f.Batch.Interval, "flush-interval", time.Second, "longest a smaller batch waits before it is sent")
}

// Deps are what the indexer runs against.
type Deps struct {
	Brokers []string
	// ClientOpts are extra Kafka client options (the all-in-one's quick
	// topic discovery).
	ClientOpts []kgo.Opt
	// NewSink builds the sink the consumed records go to, within the
	// flags' batch bounds.
	NewSink func(Batch) (kafkaconsume.Sink, error)
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start runs the consumer as one of s's jobs. Kafka need not be up, nor the
// sink's backend: the consumer keeps trying, and the sink holds records back
// until its backend answers.
func Start(s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	sink, err := d.NewSink(f.Batch)
	if err != nil {
		return err
	}
	cfg := f.Kafka.Config(d.Brokers, d.ClientOpts...)
	cfg.MaxPollRecords = f.Batch.Docs
	cons, err := kafkaconsume.New(cfg, sink, name, log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	return nil
}
