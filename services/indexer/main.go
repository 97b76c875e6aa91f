// Command indexer is logindexer: a Kafka consumer group that bulk-indexes the
// dataset topics into OpenSearch (or Elasticsearch) daily indices, retrying
// with backoff while the cluster is busy or down and dead-lettering the
// documents it rejects; offsets are committed only behind indexed documents.
// See services/indexer/app.
//
// Every flag can also be set from the environment, e.g. --opensearch-password
// from HINDSIGHT_OPENSEARCH_PASSWORD.
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/indexer/app"
	"github.com/hindsight-dev/hindsight/services/indexer/bulk"
	"github.com/hindsight-dev/hindsight/services/indexer/deadletter"
)

const name = "indexer"

type config struct {
	server.Flags
	KafkaBrokers    string
	OpenSearchURLs  string
	OpenSearchUser  string
	OpenSearchPass  string
	DeadLetterTopic string
	app             app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.OpenSearchURLs, "opensearch-url", "http://localhost:9200", "comma-separated OpenSearch or Elasticsearch node URLs")
	fs.StringVar(&c.OpenSearchUser, "opensearch-user", "", "user for HTTP basic authentication (optional)")
	fs.StringVar(&c.OpenSearchPass, "opensearch-password", "", "password for HTTP basic authentication (optional)")
	fs.StringVar(&c.DeadLetterTopic, "deadletter-topic", deadletter.DefaultTopic, "Kafka topic for documents OpenSearch rejects")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9701", ":9702", c.bind, c.setup)
}

// setup connects the clients and starts the indexer into OpenSearch.
// Neither Kafka nor OpenSearch need be up.
func (c *config) setup(_ context.Context, s *server.Server) error {
	urls := flagenv.List(c.OpenSearchURLs)
	if len(urls) == 0 {
		return fmt.Errorf("--opensearch-url: at least one URL required")
	}
	search, err := bulk.NewClient(urls, c.OpenSearchUser, c.OpenSearchPass)
	if err != nil {
		return fmt.Errorf("opensearch client: %w", err)
	}
	s.OnClose(func() { search.Close() })
	brokers := flagenv.List(c.KafkaBrokers)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	s.OnClose(producer.Close)
	return app.Start(s, c.app, app.Deps{Brokers: brokers, NewSink: func(b app.Batch) (kafkaconsume.Sink, error) {
		return bulk.New(search, deadletter.New(producer, c.DeadLetterTopic), bulk.Options{
			Docs: b.Docs, Bytes: b.Bytes, Interval: b.Interval, Log: s.Log, Registerer: s.Registry,
		})
	}})
}
