// Command archiver is centralog: a Kafka consumer group that archives the
// dataset topics into object storage as gzip NDJSON by event date (the layout
// of internal/archive), committing offsets only once the objects are durable.
// See services/archiver/app.
//
// Every flag can also be set from the environment, e.g. --archive-url from
// HINDSIGHT_ARCHIVE_URL.
package main

import (
	"context"
	"flag"

	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/archiver/app"
)

const name = "archiver"

type config struct {
	server.Flags
	KafkaBrokers string
	ArchiveURL   string
	app          app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9601", ":9602")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.ArchiveURL, "archive-url", "file:///var/lib/hindsight/archive", "archive location: file:///dir, or s3://bucket?region=…&endpoint=… for S3-compatible storage")
	c.app.Bind(fs)
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	store, err := archive.Open(ctx, c.ArchiveURL)
	if err != nil {
		return err
	}
	s.OnClose(func() { store.Close() })
	if err := app.Start(s, c.app, app.Deps{Archive: store, Brokers: flagenv.List(c.KafkaBrokers)}); err != nil {
		return err
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}
