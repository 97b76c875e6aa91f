// Package volume watches event rates: per dataset, per dataset and
// service.name, and per dataset and host, it counts events in fixed time
// buckets, learns what a bucket should hold from recent buckets and the same
// time of previous days, and reports anomalies: a dataset or service whose
// events drop to zero, a spike, a host that goes silent. It exports them as
// Prometheus metrics and lists them for the API and the /volume page.
//
// A bucket is judged when it has been closed for half a bucket (events reach
// the watch a little late), so an anomaly shows within 1.5 buckets of its
// start. A bucket is compared with two baselines, the median of the recent
// buckets (since the watch began, as earlier ones may be incomplete, or
// since the first event a restarted watch's feed reads again: Resume) and the
// median of the same bucket on previous days (medians ignore
// a lone outlier, and anomalous buckets are left out of both, so one burst
// does not raise the bar for the next): a spike is many times above both, a
// drop is zero where both expect events. An anomaly that lasts the whole
// recent window (an hour by default) is the new normal: it ends, and its
// buckets become the baseline.
package volume

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is what is wrong with a series.
type Kind string

const (
	// Drop: a dataset or a service that sends steadily sent nothing.
	Drop Kind = "drop"
	// Spike: many times the expected events.
	Spike Kind = "spike"
	// Silence: a host that sends steadily sent nothing.
	Silence Kind = "silence"
)

// Key names a series: a dataset, optionally one service or one host of it.
type Key struct {
	Dataset, Service, Host string
}

// Anomaly is a series' bucket that is far from its expected count.
type Anomaly struct {
	Key
	Kind     Kind
	Bucket   time.Time // start of the first anomalous bucket
	End      time.Time // start of the first normal bucket after it; zero while it goes on
	Count    int64     // events in the last judged bucket
	Expected float64
}

// maxPast bounds the ended anomalies a series keeps for Snapshot.
const maxPast = 32

// Config tunes the detector; zero values take the defaults.
type Config struct {
	Bucket time.Duration // default 1 minute
	// Recent is how many recent buckets make the baseline (default 60), Days
	// how many previous days' same bucket join them (default 7).
	Recent, Days int
	// Warmup is how many buckets a series needs before it is judged
	// (default 10).
	Warmup int
	// MinExpected: a series expecting fewer events a bucket is not judged
	// for drops or silence (default 5), so a sparse series that is sometimes
	// empty is no anomaly.
	MinExpected float64
	// SpikeFactor: a bucket holding more than this times the expected count
	// (of at least MinExpected) is a spike (default 5).
	SpikeFactor float64
	// MaxSeries bounds the series (and the metrics' label sets) kept;
	// events of further series are not watched (default 1000).
	MaxSeries int
}

// DefaultConfig is the configuration zero values stand for.
func DefaultConfig() Config {
	var c Config
	c.defaults()
	return c
}

func (c *Config) defaults() {
	if c.Bucket <= 0 {
		c.Bucket = time.Minute
	}
	if c.Recent <= 0 {
		c.Recent = 60
	}
	if c.Days <= 0 {
		c.Days = 7
	}
	if c.Warmup <= 0 {
		c.Warmup = 10
	}
	if c.MinExpected <= 0 {
		c.MinExpected = 5
	}
	if c.SpikeFactor <= 0 {
		c.SpikeFactor = 5
	}
	if c.MaxSeries <= 0 {
		c.MaxSeries = 1000
	}
}

// Detector counts events and judges buckets. It is safe for concurrent use.
type Detector struct {
	cfg    Config
	mu     sync.Mutex
	series map[Key]*series
	judged time.Time // start of the next bucket to judge
	// first is the first bucket judged: the recent baseline starts there,
	// since events of earlier buckets may have come before the feed did
	// (a consumer starts at the end of its topics). After Resume it is the
	// first whole bucket the feed reads again.
	first   time.Time
	resumed time.Time

	active     *prometheus.GaugeVec
	total      *prometheus.CounterVec
	overCap    prometheus.Counter
	outOfRange prometheus.Counter
}

type series struct {
	counts   ring      // events per bucket, as far back as the baselines reach
	since    time.Time // the first bucket watched
	last     time.Time // the newest bucket with events
	judged   int       // buckets judged so far
	expected float64   // the baseline of the last judged bucket
	anomaly  *Anomaly
	past     []Anomaly // ended anomalies, oldest first, at most maxPast
}

// New returns a detector registering its metrics with reg (nil: none).
func New(cfg Config, reg prometheus.Registerer) (*Detector, error) {
	cfg.defaults()
	d := &Detector{
		cfg:     cfg,
		series:  map[Key]*series{},
		active:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "hindsight", Subsystem: "volume", Name: "anomaly", Help: "1 while a series' event rate is anomalous, by kind (drop, spike, silence)."}, []string{"dataset", "service", "host", "kind"}),
		total:   prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hindsight", Subsystem: "volume", Name: "anomalies_total", Help: "Anomalies that began, by kind."}, []string{"kind"}),
		overCap: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hindsight", Subsystem: "volume", Name: "unwatched_events_total", Help: "Events of series beyond the cap on series, not watched."}),
		outOfRange: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hindsight", Subsystem: "volume", Name: "out_of_range_events_total",
			Help: "Events timed before the oldest bucket a baseline reaches or more than the recent window ahead of the judge, not counted."}),
	}
	for _, k := range []Kind{Drop, Spike, Silence} {
		d.total.WithLabelValues(string(k)) // 0 from the start, not absent
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{d.active, d.total, d.overCap, d.outOfRange} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// start is the start of t's bucket, in UTC (comparable with ==, as times
// in another location, time.Now's Local, are not).
func (d *Detector) start(t time.Time) time.Time { return t.UTC().Truncate(d.cfg.Bucket) }

// ahead is how far past the next bucket to judge events are counted: a
// little clock skew is kept, a clock or parse gone wrong is not.
func (d *Detector) ahead() time.Duration { return time.Duration(d.cfg.Recent) * d.cfg.Bucket }

// ringLen is the buckets a series keeps: back to the oldest bucket a
// baseline reaches, and ahead().
func (d *Detector) ringLen() int {
	perDay := (24*time.Hour + d.cfg.Bucket - 1) / d.cfg.Bucket
	return d.cfg.Days*int(perDay) + 2*d.cfg.Recent + 2
}

// Observe counts n events of a dataset (with their service and host, either
// may be empty) at t.
func (d *Detector) Observe(dataset, service, host string, t time.Time, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.start(t)
	// A bucket no baseline reaches, or far ahead, has no place in the ring.
	if !d.judged.IsZero() && (b.Before(d.horizon(d.judged)) || b.After(d.judged.Add(d.ahead()))) {
		d.outOfRange.Add(float64(n))
		return
	}
	keys := []Key{{Dataset: dataset}}
	if service != "" {
		keys = append(keys, Key{Dataset: dataset, Service: service})
	}
	if host != "" {
		keys = append(keys, Key{Dataset: dataset, Host: host})
	}
	for _, k := range keys {
		s := d.series[k]
		if s == nil {
			if len(d.series) >= d.cfg.MaxSeries {
				d.overCap.Add(float64(n))
				continue
			}
			s = &series{counts: newRing(d.cfg.Bucket, d.ringLen()), since: b, last: b}
			d.series[k] = s
		}
		if !s.counts.add(b, n) {
			d.outOfRange.Add(float64(n))
			continue
		}
		if b.Before(s.since) {
			s.since = b
		}
		if b.After(s.last) {
			s.last = b
		}
	}
}

// Resume tells a detector not yet ticked that its feed reads every event
// since t again (a restarted watch reading its topics from then on): the
// buckets from the first whole one after t are complete, so at the first
// Tick they are the recent baseline and count towards each series' warmup
// instead of being learned again. They are not judged (their anomalies, if
// any, were reported before the restart); as baseline samples a lone
// outlier among them is outweighed by the median.
func (d *Detector) Resume(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.judged.IsZero() {
		d.resumed = d.start(t.Add(d.cfg.Bucket - time.Nanosecond))
	}
}

// Tick judges every bucket closed for half a bucket by now and returns the
// anomalies that began.
func (d *Detector) Tick(now time.Time) []Anomaly {
	d.mu.Lock()
	defer d.mu.Unlock()
	last := d.start(now.Add(-d.cfg.Bucket - d.cfg.Bucket/2)) // newest judgeable bucket
	if d.judged.IsZero() {
		d.judged, d.first = last, last
		if !d.resumed.IsZero() && d.resumed.Before(last) {
			d.first = d.resumed
			for _, s := range d.series {
				from := s.since
				if from.Before(d.first) {
					from = d.first
				}
				if from.Before(last) {
					s.judged = int(last.Sub(from) / d.cfg.Bucket)
				}
			}
		}
	}
	var began []Anomaly
	for ; !d.judged.After(last); d.judged = d.judged.Add(d.cfg.Bucket) {
		for k, s := range d.series {
			if a := d.judge(k, s, d.judged); a != nil {
				began = append(began, *a)
			}
		}
	}
	d.forget(last)
	return began
}

// judge decides bucket b of one series; it returns the anomaly if one began.
func (d *Detector) judge(k Key, s *series, b time.Time) *Anomaly {
	s.judged++
	count := s.counts.get(b)
	var recent, daily []int64
	for i := 1; i <= d.cfg.Recent; i++ {
		at := b.Add(-time.Duration(i) * d.cfg.Bucket)
		if at.Before(d.first) {
			break
		}
		if c, ok := d.sample(s, at); ok {
			recent = append(recent, c)
		}
	}
	for i := 1; i <= d.cfg.Days; i++ {
		if c, ok := d.sample(s, b.AddDate(0, 0, -i)); ok {
			daily = append(daily, c)
		}
	}
	if len(recent) == 0 && s.anomaly != nil {
		// Every recent bucket is part of the anomaly: it is the new normal.
		d.end(k, s, b)
	}
	if s.judged <= d.cfg.Warmup || len(recent) == 0 {
		s.expected = 0
		return nil
	}
	// A spike is above both baselines (a daily peak is expected at its
	// hour); a drop is below both (a quiet hour is expected to be quiet).
	expected, low := median(recent), median(recent)
	if len(daily) > 0 {
		expected, low = max(expected, median(daily)), min(low, median(daily))
	}
	s.expected = expected
	var kind Kind
	switch {
	case count == 0 && low >= d.cfg.MinExpected && k.Host != "":
		kind = Silence
	case count == 0 && low >= d.cfg.MinExpected:
		kind = Drop
	// A baseline of next to nothing has no factor to judge by (and a series
	// back from a long drop is no spike).
	case float64(count) > d.cfg.SpikeFactor*expected && expected >= d.cfg.MinExpected:
		kind = Spike
	}
	if s.anomaly != nil && s.anomaly.Kind == kind {
		s.anomaly.Count, s.anomaly.Expected = count, expected
		return nil
	}
	if s.anomaly != nil {
		d.end(k, s, b)
	}
	if kind == "" {
		return nil
	}
	s.anomaly = &Anomaly{Key: k, Kind: kind, Bucket: b, Count: count, Expected: expected}
	d.active.WithLabelValues(k.Dataset, k.Service, k.Host, string(kind)).Set(1)
	d.total.WithLabelValues(string(kind)).Inc()
	return s.anomaly
}

// end closes the series' anomaly at bucket b (the first bucket not part of
// it) and keeps it among the past ones.
func (d *Detector) end(k Key, s *series, b time.Time) {
	d.active.DeleteLabelValues(k.Dataset, k.Service, k.Host, string(s.anomaly.Kind))
	a := *s.anomaly
	a.End = b
	s.anomaly = nil
	if len(s.past) == maxPast {
		s.past = slices.Delete(s.past, 0, 1)
	}
	s.past = append(s.past, a)
}

// sample is a past bucket's count, if the series was watched then (its
// first bucket or later) and the bucket was normal: anomalies do not teach
// the baseline.
func (d *Detector) sample(s *series, b time.Time) (int64, bool) {
	if b.Before(s.since) {
		return 0, false
	}
	c := s.counts.get(b)
	if s.anomaly != nil && !b.Before(s.anomaly.Bucket) {
		return 0, false
	}
	return c, true
}

// forget drops the past anomalies that ended before the baselines reach
// back, and the series with no events and no anomaly since (a host gone for
// good), so its gauge and place go too.
func (d *Detector) forget(last time.Time) {
	horizon := d.horizon(last)
	for k, s := range d.series {
		s.past = slices.DeleteFunc(s.past, func(a Anomaly) bool { return a.End.Before(horizon) })
		if s.last.Before(horizon) && len(s.past) == 0 {
			if s.anomaly != nil {
				d.active.DeleteLabelValues(k.Dataset, k.Service, k.Host, string(s.anomaly.Kind))
			}
			delete(d.series, k)
		}
	}
}

// horizon is the oldest bucket the baselines of bucket last reach.
func (d *Detector) horizon(last time.Time) time.Time {
	return last.AddDate(0, 0, -d.cfg.Days).Add(-time.Duration(d.cfg.Recent) * d.cfg.Bucket)
}

// Active lists the anomalies going on, by dataset, service and host.
func (d *Detector) Active() []Anomaly {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Anomaly
	for _, s := range d.series {
		if s.anomaly != nil {
			out = append(out, *s.anomaly)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.less(out[j].Key) })
	return out
}

func (a Key) less(b Key) bool {
	if a.Dataset != b.Dataset {
		return a.Dataset < b.Dataset
	}
	if a.Service != b.Service {
		return a.Service < b.Service
	}
	return a.Host < b.Host
}

// Series is one series' recent buckets, for the API and the page.
type Series struct {
	Key
	Counts   []int64 // one per bucket from the snapshot's start, oldest first
	Expected float64 // the baseline of the newest bucket (0 while learning)
	// Anomalies overlapping the buckets shown, oldest first; the last one
	// has no End while it goes on.
	Anomalies []Anomaly
}

// Snapshot is the judged buckets of some series.
type Snapshot struct {
	Bucket time.Duration
	Start  time.Time // first bucket of every series' Counts
	Series []Series  // by dataset, service, host
}

// Filter chooses the series of a Snapshot.
type Filter struct {
	Dataset   string // "" is every dataset
	Breakdown bool   // also the services' and hosts' series
	Buckets   int    // buckets per series, ending with the last judged one
}

// Snapshot returns the last f.Buckets judged buckets of the series f
// chooses; nothing before the first Tick.
func (d *Detector) Snapshot(f Filter) Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := Snapshot{Bucket: d.cfg.Bucket}
	if d.judged.IsZero() || f.Buckets <= 0 {
		return snap
	}
	snap.Start = d.judged.Add(-time.Duration(f.Buckets) * d.cfg.Bucket)
	for k, s := range d.series {
		if f.Dataset != "" && k.Dataset != f.Dataset || !f.Breakdown && (k.Service != "" || k.Host != "") {
			continue
		}
		out := Series{Key: k, Counts: make([]int64, f.Buckets), Expected: s.expected}
		for i := range out.Counts {
			out.Counts[i] = s.counts.get(snap.Start.Add(time.Duration(i) * d.cfg.Bucket))
		}
		for _, a := range s.past {
			if a.End.After(snap.Start) {
				out.Anomalies = append(out.Anomalies, a)
			}
		}
		if s.anomaly != nil {
			out.Anomalies = append(out.Anomalies, *s.anomaly)
		}
		snap.Series = append(snap.Series, out)
	}
	sort.Slice(snap.Series, func(i, j int) bool { return snap.Series[i].Key.less(snap.Series[j].Key) })
	return snap
}

// Bucket is the length of the detector's buckets.
func (d *Detector) Bucket() time.Duration { return d.cfg.Bucket }

func median(v []int64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return float64(s[n/2-1]+s[n/2]) / 2
}
