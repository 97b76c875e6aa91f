package ingest

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/parse"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

// ProducerConfig is how the router talks to Kafka.
type ProducerConfig struct {
	Brokers  []string
	ClientID string
	// Linger is how long a partition's batch waits for more records.
	Linger time.Duration
	// BatchMaxBytes caps a record batch; it must not exceed the brokers'
	// message.max.bytes (1 MB by default). Records are kept below it.
	BatchMaxBytes int32
	// MaxBufferedRecords bounds the records awaiting acknowledgement; past
	// it, ingesting blocks, which pushes back on the agents.
	MaxBufferedRecords int
	// DeliveryTimeout fails a record Kafka has not acknowledged in time, so
	// that its batch fails and the agent resends it (0: retry forever).
	DeliveryTimeout time.Duration
}

// NewClient is the producer the router's guarantees rest on: acks from all
// in-sync replicas, and idempotent writes (franz-go's default, which
// requires acks=all), so the retries within a session add no duplicates.
func NewClient(c ProducerConfig, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
	}
	if c.ClientID != "" {
		base = append(base, kgo.ClientID(c.ClientID))
	}
	if c.Linger > 0 {
		base = append(base, kgo.ProducerLinger(c.Linger))
	}
	if c.BatchMaxBytes > 0 {
		base = append(base, kgo.ProducerBatchMaxBytes(c.BatchMaxBytes))
	}
	if c.MaxBufferedRecords > 0 {
		base = append(base, kgo.MaxBufferedRecords(c.MaxBufferedRecords))
	}
	if c.DeliveryTimeout > 0 {
		base = append(base, kgo.RecordDeliveryTimeout(c.DeliveryTimeout))
	}
	return kgo.NewClient(append(base, opts...)...)
}

// recordOverhead is room left in a batch for the record and batch headers.
const recordOverhead = 1024

// encode is the record value of e: its ECS document, cut down if it would
// not fit in a batch (a record Kafka refuses as too large would fail its
// batch for ever, and the agent would resend it for ever).
func encode(e *eventv1.Event, maxBytes int) []byte {
	b, err := event.Marshal(e)
	if err == nil && len(b) <= maxBytes {
		return b
	}
	// Too large, or a field JSON cannot hold: keep the message, cut to fit,
	// and say why.
	reason := fmt.Sprintf("document of %d bytes exceeds the %d-byte record limit", len(b), maxBytes)
	if err != nil {
		reason = err.Error()
	}
	e.Fields = &structpb.Struct{Fields: map[string]*structpb.Value{"error.message": structpb.NewStringValue(reason)}}
	if !hasTag(e, parse.TagTruncated) {
		e.Tags = append(e.Tags, parse.TagTruncated)
	}
	for {
		// Without fields, Marshal cannot fail; and with the message gone
		// there is nothing left to cut (labels and source are bounded).
		if b, _ = event.Marshal(e); len(b) <= maxBytes || e.Message == "" {
			return b
		}
		// JSON escaping can triple a string; cut by the excess, at a rune.
		cut := len(e.Message) - (len(b)-maxBytes)/3 - 1
		if cut < 0 {
			cut = 0
		}
		for cut > 0 && !utf8.RuneStart(e.Message[cut]) {
			cut--
		}
		e.Message = e.Message[:cut]
	}
}

func hasTag(e *eventv1.Event, tag string) bool {
	for _, t := range e.GetTags() {
		if t == tag {
			return true
		}
	}
	return false
}

// record is one Kafka record of an event: keyed by the event id (so a
// resend lands on the same partition, and compaction could dedupe), with
// the headers consumers use to place it without decoding it.
func record(topic string, e *eventv1.Event, value []byte) *kgo.Record {
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(e.GetId()),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: event.HeaderDataset, Value: []byte(e.GetDataset())},
			{Key: event.HeaderTime, Value: []byte(event.FormatTime(e.GetTimestamp().AsTime()))},
		},
	}
}
