// Command archiver is centralog: a Kafka consumer group that archives the
// dataset topics into object storage as gzip NDJSON by event date (the layout
// of internal/archive), committing offsets only once the objects are durable.
//
// Every flag can also be set from the environment, e.g. --archive-url from
// HINDSIGHT_ARCHIVE_URL.
package main

import (
	"context"
	"flag"
	"time"

	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/archiver/sink"
)

const name = "archiver"

// config is everything the archiver binary is told by flags.
type config struct {
	server.Flags
	Kafka         kafkaconsume.Flags
	ArchiveURL    string
	FlushSize     int
	FlushInterval time.Duration
	DedupWindow   int
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9601", ":9602")
	c.Kafka.Bind(fs, "hindsight-archiver")
	fs.StringVar(&c.ArchiveURL, "archive-url", "file:///var/lib/hindsight/archive", "archive location: file:///dir, or s3://bucket?region=…&endpoint=… for S3-compatible storage")
	fs.IntVar(&c.FlushSize, "flush-size", 64<<20, "write a partition's buffer once its documents reach this many bytes (uncompressed)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 5*time.Minute, "write a partition's buffer once its oldest record has waited this long")
	fs.IntVar(&c.DedupWindow, "dedup-window", sink.DefaultDedupWindow, "latest event ids remembered per partition to archive a resent event once (negative: off)")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

// setup opens the archive and starts the consumer. Kafka need not be up:
// the consumer keeps trying to join its group.
func (c *config) setup(ctx context.Context, s *server.Server) error {
	store, err := archive.Open(ctx, c.ArchiveURL)
	if err != nil {
		return err
	}
	s.OnClose(func() { store.Close() })
	w, err := sink.New(store, sink.Options{FlushBytes: c.FlushSize, FlushInterval: c.FlushInterval, DedupWindow: c.DedupWindow, Log: s.Log, Registerer: s.Registry})
	if err != nil {
		return err
	}
	cons, err := kafkaconsume.New(c.Kafka.Config(), w, name, s.Log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}
