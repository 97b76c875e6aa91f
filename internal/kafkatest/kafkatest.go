// Package kafkatest runs an in-process Kafka (franz-go's kfake) for the unit
// tests of consumers and producers, with helpers to produce router-style
// records and to watch a group's committed offsets.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hindsight-dev/hindsight/internal/event"
)

// Cluster is a fake Kafka cluster that lives as long as the test.
type Cluster struct {
	*kfake.Cluster
	t   testing.TB
	adm *kadm.Client
}

// New starts a cluster with the given topics and their partition counts.
func New(t testing.TB, topics map[string]int32) *Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	for name, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); c.Close() })
	return &Cluster{Cluster: c, t: t, adm: kadm.NewClient(cl)}
}

// FailCommits makes every offset commit fail (a non-retriable error for each
// partition) while fail() is true: a consumer's work is done but its
// progress is never recorded, as when it crashes just before committing.
func (c *Cluster) FailCommits(fail func() bool) {
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !fail() {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.SetVersion(r.GetVersion())
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.GroupAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// Brokers are the cluster's addresses.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Record is an event record as the router writes it: key = event id, value =
// the ECS document, dataset and time in headers.
func Record(topic string, partition int32, id, dataset string, t time.Time, doc []byte) *kgo.Record {
	return &kgo.Record{
		Topic: topic, Partition: partition, Key: []byte(id), Value: doc,
		Headers: []kgo.RecordHeader{
			{Key: event.HeaderDataset, Value: []byte(dataset)},
			{Key: event.HeaderTime, Value: []byte(event.FormatTime(t))},
		},
	}
}

// Doc is a small ECS document for an event.
func Doc(id, dataset string, t time.Time, msg string) []byte {
	return fmt.Appendf(nil, `{"@timestamp":%q,"message":%q,"data_stream":{"type":"logs","dataset":%q,"namespace":"default"},"event":{"id":%q}}`,
		event.FormatTime(t), msg, dataset, id)
}

// Produce writes recs to their topics and partitions (set Partition on each).
func (c *Cluster) Produce(recs ...*kgo.Record) {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		c.t.Fatal(err)
	}
}

// Consume reads n records of topic from its start, failing the test if they
// do not arrive within timeout.
func (c *Cluster) Consume(topic string, n int, timeout time.Duration) []*kgo.Record {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("read %d of %d records from %s in %s", len(out), n, topic, timeout)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// Committed is the group's committed offset per topic and partition.
func (c *Cluster) Committed(group string) map[string]map[int32]int64 {
	c.t.Helper()
	out := map[string]map[int32]int64{}
	resp, err := c.adm.FetchOffsets(context.Background(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out // the group has not joined yet
	}
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out
}

// Ends is the end offset of every partition of topics.
func (c *Cluster) Ends(topics ...string) map[string]map[int32]int64 {
	c.t.Helper()
	ends, err := c.adm.ListEndOffsets(context.Background(), topics...)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// WaitCaughtUp waits until group has committed the end of every partition of
// topics, failing the test after timeout.
func (c *Cluster) WaitCaughtUp(group string, timeout time.Duration, topics ...string) {
	c.t.Helper()
	ends := c.Ends(topics...)
	deadline := time.Now().Add(timeout)
	for {
		got := c.Committed(group)
		behind := ""
		for t, ps := range ends {
			for p, end := range ps {
				if got[t][p] != end {
					behind += fmt.Sprintf(" %s/%d at %d of %d;", t, p, got[t][p], end)
				}
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("group %s not caught up after %s:%s", group, timeout, behind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run runs a consumer's loop (kafkaconsume's Consumer.Run) in the
// background until stop is called or the test ends; stop returns once the
// loop has, and may be called again.
func Run(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
