// Package deadletter keeps the documents OpenSearch rejects: each goes, as
// the original record plus headers saying why, to a Kafka topic a person (or
// a replay after a mapping fix) can read back.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/services/indexer/bulk"
)

// DefaultTopic is where rejected documents go unless configured otherwise.
const DefaultTopic = "hindsight.deadletter"

// Headers added to a dead-lettered record, after the original ones.
const (
	HeaderReason = "hindsight.deadletter.reason" // OpenSearch's error type and reason
	HeaderStatus = "hindsight.deadletter.status" // the document's bulk status (0: never sent)
	HeaderIndex  = "hindsight.deadletter.index"  // the index it was meant for
	HeaderSource = "hindsight.deadletter.source" // topic/partition/offset it was consumed from
)

// Writer produces rejected records to a topic.
type Writer struct {
	cl      *kgo.Client
	topic   string
	created bool
}

// New returns a Writer producing with cl (a producer client: acks from all
// replicas, idempotent) to topic.
func New(cl *kgo.Client, topic string) *Writer { return &Writer{cl: cl, topic: topic} }

// Send produces rs and returns once Kafka acknowledged every one.
func (w *Writer) Send(ctx context.Context, rs []bulk.Rejected) error {
	w.ensureTopic(ctx)
	recs := make([]*kgo.Record, len(rs))
	for i, r := range rs {
		src := r.Record
		headers := append(append([]kgo.RecordHeader(nil), src.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(r.Reason)},
			kgo.RecordHeader{Key: HeaderStatus, Value: []byte(strconv.Itoa(r.Status))},
			kgo.RecordHeader{Key: HeaderIndex, Value: []byte(r.Index)},
			kgo.RecordHeader{Key: HeaderSource, Value: fmt.Appendf(nil, "%s/%d/%d", src.Topic, src.Partition, src.Offset)},
		)
		recs[i] = &kgo.Record{Topic: w.topic, Key: src.Key, Value: src.Value, Headers: headers}
	}
	return w.cl.ProduceSync(ctx, recs...).FirstErr()
}

// ensureTopic creates the topic (with the brokers' default partitions and
// replication), so dead letters do not depend on topic auto-creation. Until
// that succeeds it is tried before each Send; if it cannot (no permission,
// say), producing tells whether the topic exists.
func (w *Writer) ensureTopic(ctx context.Context) {
	if w.created {
		return
	}
	resp, err := kadm.NewClient(w.cl).CreateTopic(ctx, -1, -1, nil, w.topic)
	if err == nil {
		err = resp.Err
	}
	w.created = err == nil || errors.Is(err, kerr.TopicAlreadyExists)
}
