// Package volumefeed feeds the volume watch (internal/volume) from the
// router's topics: every record's dataset, service.name, host.name and event
// time is counted as it arrives, and a job judges the buckets as they close,
// logging each anomaly that begins.
//
// The feed reads every partition of the topics itself, with no consumer
// group: a group splits the partitions among the instances sharing it, and
// each topology instance's watch must count every event of a dataset (a
// share of the partitions is a share of the rate, and which share changes
// at every rebalance, which would look like drops and spikes). Nothing is
// committed either: the counts live in memory, so a (re)started feed reads
// again the records appended since now − History (by their Kafka
// timestamps) and the recent baseline is whole once it has caught up with
// the ends of the topics it found at start. Until then the judge waits:
// the buckets being read again are not taken for drops.
package volumefeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	ecs "github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/volume"
)

// Config says what the feed reads.
type Config struct {
	Brokers     []string
	TopicsRegex string
	// History is how far back a starting feed reads (0: from the ends of
	// the topics, and the baseline is learned again).
	History time.Duration
	// ClientOpts are extra Kafka client options.
	ClientOpts []kgo.Opt
}

// Feed counts the records of every partition of the matching topics in a
// detector.
type Feed struct {
	cfg   Config
	re    *regexp.Regexp
	det   *volume.Detector
	log   *slog.Logger
	cl    *kgo.Client
	since time.Time
	now   func() time.Time
	ready chan struct{}

	consumed, fetchErrors, bad prometheus.Counter
	caughtUp                   prometheus.Gauge
}

// New returns the feed of det (its metrics registered on reg, nil: none).
// With a History, Run tells the detector (volume.Detector.Resume) from
// when on the buckets are being read again.
func New(cfg Config, det *volume.Detector, log *slog.Logger, reg prometheus.Registerer) (*Feed, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("volume feed: no brokers")
	}
	re, err := regexp.Compile(cfg.TopicsRegex)
	if err != nil {
		return nil, fmt.Errorf("volume feed topics regex: %w", err)
	}
	f := &Feed{cfg: cfg, re: re, det: det, log: log, now: time.Now, ready: make(chan struct{}),
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hindsight_volume_records_consumed_total",
			Help: "Records the volume watch read from Kafka (at start again those of its history window)."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hindsight_volume_fetch_errors_total",
			Help: "Errors the volume watch met fetching from Kafka."}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "hindsight_volume_undecodable_records_total",
			Help: "Consumed records that are no ECS event document, not counted by the volume watch."}),
		caughtUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hindsight_volume_caught_up",
			Help: "1 once the volume watch has read its history window again and judges buckets; 0 while it reads."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{f.consumed, f.fetchErrors, f.bad, f.caughtUp} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	start := kgo.NewOffset().AtEnd()
	if cfg.History > 0 {
		f.since = f.now().Add(-cfg.History)
		start = kgo.NewOffset().AfterMilli(f.since.UnixMilli())
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(cfg.TopicsRegex),
		kgo.ConsumeRegex(),
		kgo.ConsumeResetOffset(start),
		kgo.MetadataMaxAge(30 * time.Second),
	}, cfg.ClientOpts...)
	if f.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("volume feed: kafka client: %w", err)
	}
	return f, nil
}

// Ready is closed once the feed has read its history window (at once
// without one).
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// Run reads until ctx ends, then closes the client.
func (f *Feed) Run(ctx context.Context) error {
	defer f.cl.Close()
	var pending map[string]map[int32]int64 // offsets to reach before Ready
	if !f.since.IsZero() {
		var first time.Time
		if pending, first = f.targets(ctx); pending == nil {
			return nil // ctx ended
		}
		if len(pending) > 0 {
			// The buckets from the first record read again on are whole
			// (before it Kafka holds nothing: a first start, not a gap).
			f.det.Resume(first)
		}
	}
	if len(pending) == 0 {
		f.open()
	}
	began, read := f.now(), 0
	for {
		fetches := f.cl.PollRecords(ctx, 10000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			f.fetchErrors.Inc()
			f.log.Warn("volume feed: fetch", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			f.count(r)
			read++
			if ps := pending[r.Topic]; ps != nil {
				if end, ok := ps[r.Partition]; ok && r.Offset+1 >= end {
					delete(ps, r.Partition)
					if len(ps) == 0 {
						delete(pending, r.Topic)
					}
					if len(pending) == 0 {
						f.log.Info("volume feed: history read again", "since", f.since, "records", read, "took", f.now().Sub(began).Round(time.Millisecond))
						f.open()
					}
				}
			}
		})
	}
}

// open lets the judge begin.
func (f *Feed) open() {
	select {
	case <-f.ready:
	default:
		f.caughtUp.Set(1)
		close(f.ready)
	}
}

// targets are, per partition of the matching topics that holds records
// since the history's start, the end offset at this moment: having read up
// to them, the feed has read the history again; and the time of the first
// of those records. It retries until Kafka answers, or returns nil once ctx
// ends.
func (f *Feed) targets(ctx context.Context) (map[string]map[int32]int64, time.Time) {
	adm := kadm.NewClient(f.cl)
	wait := 500 * time.Millisecond
	for {
		out, first, err := f.listTargets(ctx, adm)
		if err == nil {
			return out, first
		}
		f.log.Warn("volume feed: listing the topics' offsets (the watch judges nothing until it has read its history)", "err", err)
		select {
		case <-ctx.Done():
			return nil, time.Time{}
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (f *Feed) listTargets(ctx context.Context, adm *kadm.Client) (map[string]map[int32]int64, time.Time, error) {
	var first time.Time
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, first, err
	}
	var topics []string
	for _, t := range details.Names() {
		if f.re.MatchString(t) {
			topics = append(topics, t)
		}
	}
	out := map[string]map[int32]int64{}
	if len(topics) == 0 {
		return out, first, nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, first, err
	}
	starts, err := adm.ListOffsetsAfterMilli(ctx, f.since.UnixMilli(), topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, first, err
	}
	ends.Each(func(o kadm.ListedOffset) {
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if o.Partition < 0 || !ok || s.Offset < 0 || s.Offset >= o.Offset {
			return // nothing to read again
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
		if at := time.UnixMilli(max(s.Timestamp, f.since.UnixMilli())); first.IsZero() || at.Before(first) {
			first = at
		}
	})
	return out, first, nil
}

// count counts r's event.
func (f *Feed) count(r *kgo.Record) {
	f.consumed.Inc()
	e, err := ecs.Unmarshal(r.Value)
	if err != nil || e.GetDataset() == "" {
		f.bad.Inc()
		f.log.Debug("volume: record not decodable", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	f.det.Observe(e.GetDataset(), e.GetService(), e.GetSource().GetHost(), e.GetTimestamp().AsTime(), 1)
}

// Judge ticks d every tenth of a bucket (at least every second) until ctx
// ends, so a bucket is judged within a tenth of a bucket of becoming due,
// and logs the anomalies that begin. It starts once ready is closed: a
// bucket judged before its events were read again would be a false drop.
func Judge(d *volume.Detector, ready <-chan struct{}, log *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return nil
		case <-ready:
		}
		t := time.NewTicker(min(d.Bucket()/10, time.Second))
		defer t.Stop()
		for {
			for _, a := range d.Tick(time.Now()) {
				log.Warn("volume anomaly", "kind", a.Kind, "dataset", a.Dataset, "service", a.Service, "host", a.Host,
					"bucket", a.Bucket, "count", a.Count, "expected", a.Expected)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
