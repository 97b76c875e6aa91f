// Command indexer is logindexer: a Kafka consumer group that bulk-indexes the
// dataset topics into OpenSearch (or Elasticsearch) daily indices, retrying
// with backoff while the cluster is busy or down and dead-lettering the
// documents it rejects; offsets are committed only behind indexed documents.
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
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/indexer/bulk"
	"github.com/hindsight-dev/hindsight/services/indexer/deadletter"
)

const name = "indexer"

// config is everything the indexer binary is told by flags.
type config struct {
	server.Flags
	Kafka           kafkaconsume.Flags
	OpenSearchURLs  string
	OpenSearchUser  string
	OpenSearchPass  string
	BulkDocs        int
	BulkBytes       int
	FlushInterval   time.Duration
	DeadLetterTopic string
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9701", ":9702")
	c.Kafka.Bind(fs, "hindsight-indexer")
	fs.StringVar(&c.OpenSearchURLs, "opensearch-url", "http://localhost:9200", "comma-separated OpenSearch or Elasticsearch node URLs")
	fs.StringVar(&c.OpenSearchUser, "opensearch-user", "", "user for HTTP basic authentication (optional)")
	fs.StringVar(&c.OpenSearchPass, "opensearch-password", "", "password for HTTP basic authentication (optional)")
	fs.IntVar(&c.BulkDocs, "bulk-docs", 5000, "most documents in one bulk request")
	fs.IntVar(&c.BulkBytes, "bulk-bytes", 5<<20, "most bytes in one bulk request")
	fs.DurationVar(&c.FlushInterval, "flush-interval", time.Second, "longest a smaller batch waits before it is sent")
	fs.StringVar(&c.DeadLetterTopic, "deadletter-topic", deadletter.DefaultTopic, "Kafka topic for documents OpenSearch rejects")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

// setup connects the clients and starts the consumer. Neither Kafka nor
// OpenSearch need be up: the consumer keeps trying, and holds its records
// back until OpenSearch answers.
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

	kcfg := c.Kafka.Config()
	producer, err := kgo.NewClient(kgo.SeedBrokers(kcfg.Brokers...), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	s.OnClose(producer.Close)

	ix, err := bulk.New(search, deadletter.New(producer, c.DeadLetterTopic), bulk.Options{
		Docs: c.BulkDocs, Bytes: c.BulkBytes, Interval: c.FlushInterval, Log: s.Log, Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	kcfg.MaxPollRecords = c.BulkDocs
	cons, err := kafkaconsume.New(kcfg, ix, name, s.Log, s.Registry)
	if err != nil {
		return err
	}
	s.Go(cons.Run)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}
