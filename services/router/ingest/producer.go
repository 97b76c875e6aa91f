package ingest

import (
	"bytes"
	"cmp"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/parse"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
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
	// Compression of record batches: one of Compressions ("": lz4).
	Compression string
}

// Compressions are the producer's batch codecs by name. lz4 is the
// default: CPU is what bounds a router, and on a batch of ECS documents
// lz4 compressed 1.5x faster than zstd (732 against 472 MB/s on one core),
// for half zstd's ratio (10 against 19.5); brokers also decompress every
// batch to validate it. Where Kafka's disk matters more, choose zstd.
var Compressions = map[string]kgo.CompressionCodec{
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
	"snappy": kgo.SnappyCompression(),
	"gzip":   kgo.GzipCompression(),
	"none":   kgo.NoCompression(),
}

// NewClient is the producer the router's guarantees rest on: acks from all
// in-sync replicas, and idempotent writes (franz-go's default, which
// requires acks=all), so the retries within a session add no duplicates.
func NewClient(c ProducerConfig, opts ...kgo.Opt) (*kgo.Client, error) {
	codec, ok := Compressions[cmp.Or(c.Compression, "lz4")]
	if !ok {
		return nil, fmt.Errorf("producer compression %q: want lz4, zstd, snappy, gzip or none", c.Compression)
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A broker too old for the codec gets the batches uncompressed.
		kgo.ProducerBatchCompression(codec, kgo.NoCompression()),
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

// encode appends the record value of e to buf: its ECS document, with the
// parsed fields fields if e.Fields is nil, cut down if it would not fit in a
// batch (a record Kafka refuses as too large would fail its batch for ever,
// and the agent would resend it for ever).
func encode(buf []byte, e *eventv1.Event, fields event.Fields, maxBytes int) []byte {
	start := len(buf)
	var out []byte
	var err error
	if e.Fields != nil {
		out, err = event.AppendMarshal(buf, e)
	} else {
		out, err = event.AppendDocument(buf, e, fields)
	}
	if err == nil && len(out)-start <= maxBytes {
		return out
	}
	// Too large, or a field JSON cannot hold: keep the message, cut to fit,
	// and say why.
	reason := fmt.Sprintf("document of %d bytes exceeds the %d-byte record limit", len(out)-start, maxBytes)
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
		if out, _ = event.AppendMarshal(buf[:start], e); len(out)-start <= maxBytes || e.Message == "" {
			return out
		}
		// JSON escaping can triple a string; cut by the excess, at a rune.
		cut := len(e.Message) - (len(out)-start-maxBytes)/3 - 1
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

// records makes the Kafka records of a chunk of lines from a few large
// allocations instead of six small ones per record: the records, their
// headers, and one buffer for the documents, keys and time headers. A
// batch's records are produced and acknowledged together, so their memory
// lives and goes together too.
type records struct {
	// dataset is the dataset header's value, shared by the batch's records.
	dataset []byte
	recs    []kgo.Record
	hdrs    []kgo.RecordHeader
	buf     []byte
}

// bufBlock is the size of the records' byte blocks.
const bufBlock = 64 << 10

// newRecords has room for the records of lines of dataset.
func newRecords(dataset string, lines []*routingv1.RawLine) *records {
	size := 0 // a guess at the documents' size, for a small batch's block
	for _, l := range lines {
		if size += 640 + 3*len(l.GetLine()); size >= bufBlock {
			break
		}
	}
	n := len(lines)
	return &records{
		dataset: []byte(dataset),
		recs:    make([]kgo.Record, 0, n),
		hdrs:    make([]kgo.RecordHeader, 0, 2*n),
		buf:     make([]byte, 0, min(size, bufBlock)),
	}
}

// take returns the bytes appended to r.buf since start, capped so that
// nothing appended later can write into them.
func (r *records) take(start int) []byte { return r.buf[start:len(r.buf):len(r.buf)] }

// value encodes e's document (see encode) into the records' buffer.
func (r *records) value(e *eventv1.Event, fields event.Fields, maxBytes int) []byte {
	// A document outgrowing its block would copy the block's documents.
	if need := 512 + 2*len(e.GetMessage()); cap(r.buf)-len(r.buf) < need {
		r.buf = make([]byte, 0, max(bufBlock, 2*need))
	}
	start := len(r.buf)
	r.buf = encode(r.buf, e, fields, maxBytes)
	return r.take(start)
}

// id is the event id of the line at src shipped by owner, in the records'
// buffer: the record key, which the event's Id shares.
func (r *records) id(owner string, src *eventv1.Source) []byte {
	if cap(r.buf)-len(r.buf) < 64 {
		r.buf = make([]byte, 0, bufBlock)
	}
	start := len(r.buf)
	r.buf = event.AppendOwnedID(r.buf, owner, src)
	return r.take(start)
}

// add is one Kafka record of an event with the document value: keyed by
// the event id (so a resend lands on the same partition, and compaction
// could dedupe), with the headers consumers use to place it without
// decoding it.
func (r *records) add(topic string, e *eventv1.Event, key, value []byte) *kgo.Record {
	// The time header is the document's @timestamp, which it starts with.
	stamp, ok := bytes.CutPrefix(value, []byte(`{"@timestamp":"`))
	if end := bytes.IndexByte(stamp, '"'); ok && end > 0 {
		stamp = stamp[:end:end]
	} else {
		if cap(r.buf)-len(r.buf) < 64 {
			r.buf = make([]byte, 0, bufBlock)
		}
		start := len(r.buf)
		r.buf = event.AppendTime(r.buf, e.GetTimestamp().AsTime())
		stamp = r.take(start)
	}
	if len(r.hdrs)+2 > cap(r.hdrs) {
		r.hdrs = make([]kgo.RecordHeader, 0, max(2*cap(r.recs), 2))
	}
	r.hdrs = append(r.hdrs, kgo.RecordHeader{Key: event.HeaderDataset, Value: r.dataset}, kgo.RecordHeader{Key: event.HeaderTime, Value: stamp})
	if len(r.recs) == cap(r.recs) {
		r.recs = make([]kgo.Record, 0, max(cap(r.recs), 1))
	}
	r.recs = append(r.recs, kgo.Record{Topic: topic, Key: key, Value: value, Headers: r.hdrs[len(r.hdrs)-2 : len(r.hdrs) : len(r.hdrs)]})
	return &r.recs[len(r.recs)-1]
}
