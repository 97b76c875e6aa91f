// Package kafkaconsume is the consumer-group loop the archiver and the indexer
// share: it subscribes to the dataset topics by regex, hands records to a Sink,
// and commits a partition's offset only up to what the Sink reports stored.
// While the Sink fails it stops fetching (the records wait in Kafka, not in
// memory) and retries with exponential backoff; partitions taken away by a
// rebalance are flushed and committed first, or dropped for their next owner to
// consume again.
package kafkaconsume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Marks are, per topic and partition, the offset to commit: every record of
// the partition below it is stored.
type Marks map[string]map[int32]kgo.EpochOffset

func (m Marks) set(topic string, p int32, o kgo.EpochOffset) {
	if m[topic] == nil {
		m[topic] = map[int32]kgo.EpochOffset{}
	}
	m[topic][p] = o
}

// Mark records that every record up to and including r is stored.
func (m Marks) Mark(r *kgo.Record) {
	m.set(r.Topic, r.Partition, kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1})
}

// MarkBefore records that every record before r is stored, r not yet.
func (m Marks) MarkBefore(r *kgo.Record) {
	m.set(r.Topic, r.Partition, kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset})
}

// Parts selects partitions by topic; nil selects all of them.
type Parts map[string][]int32

// Has reports whether p of topic is selected.
func (ps Parts) Has(topic string, p int32) bool {
	if ps == nil {
		return true
	}
	for _, q := range ps[topic] {
		if q == p {
			return true
		}
	}
	return false
}

// Sink stores consumed records. The consumer calls it from one goroutine at a
// time.
type Sink interface {
	// Add takes a consumed record; records of a partition come in offset order.
	Add(r *kgo.Record)
	// Flush stores the records that are due (all of those in parts if all is
	// set) and returns the marks of the partitions it advanced, even when it
	// also returns an error for records it could not store yet (they are
	// kept for the next Flush).
	Flush(ctx context.Context, all bool, parts Parts) (Marks, error)
	// Full reports that the sink holds as much as it should: the consumer
	// stops fetching until a Flush has made room.
	Full() bool
	// Forget drops the records of partitions this member no longer owns; they
	// were not committed, so their next owner consumes them again.
	Forget(parts Parts)
}

// Committer is a Sink that needs to know which marks were committed.
type Committer interface {
	Committed(ctx context.Context, m Marks)
}

// Config configures a Consumer.
type Config struct {
	Brokers     []string
	Group       string
	TopicsRegex string
	// MaxPollRecords bounds the records taken from the client at once.
	MaxPollRecords int
	// Tick is how often an idle consumer still asks the sink to flush, so
	// age-based flushes happen without new records.
	Tick time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failed flush.
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds the flush of revoked partitions and the final flush
	// at shutdown.
	DrainTimeout time.Duration
	// LagInterval is how often consumer lag is measured; negative disables.
	LagInterval time.Duration
	// ClientOpts are extra franz-go options (tests shorten timeouts with them).
	ClientOpts []kgo.Opt
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Tick, time.Second)
	def(&c.RetryMin, 500*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.DrainTimeout, 5*time.Second)
	def(&c.LagInterval, 15*time.Second)
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 10000
	}
}

// Consumer is one member of a consumer group feeding a Sink.
type Consumer struct {
	cfg  Config
	cl   *kgo.Client
	sink Sink
	log  *slog.Logger
	m    *metrics

	// mu serialises the sink between the poll loop and rebalance callbacks.
	mu        sync.Mutex
	pending   Marks                      // stored but not yet committed
	committed map[string]map[int32]int64 // last committed offsets
	failing   bool
	retryAt   time.Time
	backoff   time.Duration
	paused    bool
}

// New creates the group member; it joins the group when Run starts polling.
// Metrics are registered on reg under hindsight_<name>_.
func New(cfg Config, sink Sink, name string, log *slog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if cfg.Group == "" {
		return nil, errors.New("kafka: no consumer group")
	}
	if _, err := regexp.Compile(cfg.TopicsRegex); err != nil {
		return nil, fmt.Errorf("kafka topics regex: %w", err)
	}
	m, err := newMetrics(name, reg)
	if err != nil {
		return nil, err
	}
	c := &Consumer{cfg: cfg, sink: sink, log: log, m: m, pending: Marks{}, committed: map[string]map[int32]int64{}}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.TopicsRegex),
		kgo.ConsumeRegex(),
		kgo.DisableAutoCommit(),
		// Callbacks run only between polls, never while records are being
		// handled, so a commit always covers partitions this member owns.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		// A new dataset topic is found by a metadata refresh: within this.
		kgo.MetadataMaxAge(30 * time.Second),
		kgo.WithLogger(logger{log}),
	}, cfg.ClientOpts...)
	if c.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return c, nil
}

// Run consumes until ctx is cancelled, then flushes and commits what it can
// within DrainTimeout, leaves the group and closes the client.
func (c *Consumer) Run(ctx context.Context) error {
	var lag sync.WaitGroup
	if c.cfg.LagInterval > 0 {
		lag.Add(1)
		go func() { defer lag.Done(); c.reportLag(ctx) }()
	}
	for {
		c.mu.Lock()
		c.pauseWhileStalled()
		c.mu.Unlock()

		pctx, cancel := context.WithTimeout(ctx, c.cfg.Tick)
		fetches := c.cl.PollRecords(pctx, c.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		c.mu.Lock()
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				c.m.fetchErrors.Inc()
				c.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			if _, ok := c.committed[p.Topic][p.Partition]; !ok {
				// Consumption starts where the group's commit is (or where
				// the reset policy put it): no need to commit that again.
				c.noteCommitted(p.Topic, p.Partition, p.Records[0].Offset)
			}
			for _, r := range p.Records {
				c.sink.Add(r)
			}
			c.m.consumed.WithLabelValues(p.Topic).Add(float64(len(p.Records)))
		})
		c.flush(ctx, false, nil)
		c.mu.Unlock()
		c.cl.AllowRebalance()
	}
	lag.Wait()
	c.drain()
	return nil
}

// drain stores and commits what it can, then leaves the group.
func (c *Consumer) drain() {
	c.cl.AllowRebalance() // leaving runs the revoke callback, which waits for this
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DrainTimeout)
	defer cancel()
	c.mu.Lock()
	if err := c.flush(ctx, true, nil); err != nil {
		c.log.Warn("records not stored at shutdown stay uncommitted; they are consumed again after a restart", "err", err)
	}
	c.sink.Forget(nil)
	c.mu.Unlock()
	c.cl.Close()
}

// flush asks the sink to store what is due (or everything in parts if all),
// commits what it stored, and keeps the backoff state. Without all, it waits
// out the backoff after a failure. Called with mu held.
func (c *Consumer) flush(ctx context.Context, all bool, parts Parts) error {
	if !all && c.failing && time.Now().Before(c.retryAt) {
		return nil
	}
	marks, err := c.sink.Flush(ctx, all, parts)
	for t, ps := range marks {
		for p, o := range ps {
			if done, ok := c.committed[t][p]; !ok || done != o.Offset {
				c.pending.set(t, p, o)
			}
		}
	}
	c.commit(ctx, parts)
	if err != nil {
		c.m.flushFailures.Inc()
		wait := c.nextBackoff()
		if !c.failing {
			c.log.Warn("storing records failed; fetching paused, retrying with backoff", "err", err, "retry_in", wait)
		} else {
			c.log.Debug("storing records failed again", "err", err, "retry_in", wait)
		}
		c.failing, c.retryAt = true, time.Now().Add(wait)
		return err
	}
	if c.failing {
		c.log.Info("storing records works again")
	}
	c.failing, c.backoff = false, 0
	return nil
}

// nextBackoff doubles the wait up to RetryMax, with ±20% jitter so instances
// that failed together do not retry in lockstep.
func (c *Consumer) nextBackoff() time.Duration {
	c.backoff = min(max(2*c.backoff, c.cfg.RetryMin), c.cfg.RetryMax)
	return time.Duration(float64(c.backoff) * (0.8 + 0.4*rand.Float64()))
}

// pauseWhileStalled stops fetching while the sink is failing or full, and
// resumes when it is not. Called with mu held.
func (c *Consumer) pauseWhileStalled() {
	stalled := c.failing || c.sink.Full()
	if stalled {
		// Re-applied every round: topics found meanwhile are paused too.
		if topics := c.cl.GetConsumeTopics(); len(topics) > 0 {
			c.cl.PauseFetchTopics(topics...)
		}
	} else if c.paused {
		c.cl.ResumeFetchTopics(c.cl.PauseFetchTopics()...)
	}
	if stalled != c.paused {
		c.paused = stalled
		c.log.Info("fetching", "paused", stalled)
		if stalled {
			c.m.paused.Set(1)
		} else {
			c.m.paused.Set(0)
		}
	}
}

// commit commits the pending marks of parts (nil: all). Marks that fail stay
// pending for the next round. Called with mu held.
func (c *Consumer) commit(ctx context.Context, parts Parts) {
	todo := Marks{}
	for t, ps := range c.pending {
		for p, o := range ps {
			if parts.Has(t, p) {
				todo.set(t, p, o)
			}
		}
	}
	if len(todo) == 0 {
		return
	}
	done := Marks{}
	c.cl.CommitOffsetsSync(ctx, todo, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			c.m.commitFailures.Inc()
			c.log.Warn("commit failed", "err", err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					c.m.commitFailures.Inc()
					c.log.Warn("commit failed", "topic", t.Topic, "partition", p.Partition, "err", err)
					continue
				}
				if o, ok := todo[t.Topic][p.Partition]; ok {
					done.set(t.Topic, p.Partition, o)
				}
			}
		}
	})
	if len(done) == 0 {
		return
	}
	c.m.commits.Inc()
	for t, ps := range done {
		for p, o := range ps {
			c.noteCommitted(t, p, o.Offset)
			delete(c.pending[t], p)
		}
		if len(c.pending[t]) == 0 {
			delete(c.pending, t)
		}
	}
	if cm, ok := c.sink.(Committer); ok {
		cm.Committed(ctx, done)
	}
}

// onRevoked stores and commits what the sink holds for partitions moving to
// another member; what cannot be stored in time is dropped, uncommitted.
func (c *Consumer) onRevoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts) == 0 {
		return // the end of a session with nothing revoked
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DrainTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flush(ctx, true, parts); err != nil {
		c.log.Warn("revoked partitions not fully stored; their next owner consumes the rest again", "partitions", parts, "err", err)
	}
	c.forget(parts)
}

// onLost drops partitions that are already someone else's: committing for
// them would fail, and their next owner consumes them again.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts) == 0 {
		return
	}
	c.log.Warn("partitions lost; dropping their uncommitted records", "partitions", parts)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(parts)
}

func (c *Consumer) noteCommitted(topic string, p int32, offset int64) {
	if c.committed[topic] == nil {
		c.committed[topic] = map[int32]int64{}
	}
	c.committed[topic][p] = offset
}

func (c *Consumer) forget(parts Parts) {
	c.sink.Forget(parts)
	for t, ps := range parts {
		for _, p := range ps {
			delete(c.pending[t], p)
			delete(c.committed[t], p)
		}
	}
}
