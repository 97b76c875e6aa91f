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
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.ArchiveURL, "archive-url", "file:///var/lib/hindsight/archive", "archive location: file:///dir, or s3://bucket?region=…&endpoint=… for S3-compatible storage")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9601", ":9602", c.bind, c.setup)
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	store, err := archive.Open(ctx, c.ArchiveURL)
	if err != nil {
		return err
	}
	s.OnClose(func() { store.Close() })
	return app.Start(s, c.app, app.Deps{Archive: store, Brokers: flagenv.List(c.KafkaBrokers)})
}
