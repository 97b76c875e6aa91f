// Package app is the archiver as one unit: its flags, with the defaults the
// archiver owns, and Start, which runs the Kafka consumer group writing the
// dataset topics into the archive (gzip NDJSON by event date), committing
// offsets only behind durable objects. The archiver binary opens the archive
// from --archive-url; the all-in-one passes its archive directory.
package app

import (
	"flag"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/archiver/sink"
)

const name = "archiver"

// Flags are the archiver's settings.
type Flags struct {
	Kafka         kafkaconsume.Flags
	FlushSize     int
	FlushInterval time.Duration
	DedupWindow   int
}

// Bind registers the flags on fs with the archiver's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	f.Kafka.Bind(fs, "hindsight-archiver")
	fs.IntVar(&f.FlushSize, "flush-size", 64<<20, "write a partition's buffer once its documents reach this many bytes (uncompressed)")
	fs.DurationVar(&f.FlushInterval, "flush-interval", 5*time.Minute, "write a partition's buffer once its oldest record has waited this long")
	fs.IntVar(&f.DedupWindow, "dedup-window", sink.DefaultDedupWindow, "latest event ids remembered per partition to archive a resent event once (negative: off)")
}

// Deps are what the archiver runs against.
type Deps struct {
	Archive *archive.Store
	Brokers []string
	// ClientOpts are extra Kafka client options (the all-in-one's quick
	// topic discovery).
	ClientOpts []kgo.Opt
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start runs the consumer as one of s's jobs. Kafka need not be up: the
// consumer keeps trying to join its group.
func Start(s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	w, err := sink.New(d.Archive, sink.Options{FlushBytes: f.FlushSize, FlushInterval: f.FlushInterval, DedupWindow: f.DedupWindow, Log: log, Registerer: s.Registry})
	if err != nil {
		return err
	}
	cons, err := kafkaconsume.New(f.Kafka.Config(d.Brokers, d.ClientOpts...), w, name, log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	return nil
}
