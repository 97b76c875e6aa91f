// Package topics makes Kafka's topics what the catalog declares: it creates
// the missing ones and alters the configs (retention.ms, retention.bytes,
// compression.type) that differ, incrementally, and grows partition counts.
// It never deletes a topic, shrinks one or lowers nothing it cannot (a
// replication factor change needs a reassignment: it is reported, not done).
package topics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/hindsight-dev/hindsight/internal/metricset"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Spec is a topic as the catalog wants it.
type Spec struct {
	Name string
	// Partitions and ReplicationFactor at creation; 0 takes the broker's
	// default. A larger Partitions later adds partitions.
	Partitions        int32
	ReplicationFactor int16
	// Configs are the topic configs to hold (only those the dataset sets).
	Configs map[string]string
}

// SpecOf is the spec of topic name with settings t.
func SpecOf(name string, t *routingv1.TopicSettings) Spec {
	s := Spec{Name: name, Partitions: t.GetPartitions(), ReplicationFactor: int16(t.GetReplicationFactor()), Configs: map[string]string{}}
	if r := t.GetRetention().AsDuration(); r > 0 {
		s.Configs["retention.ms"] = strconv.FormatInt(r.Milliseconds(), 10)
	}
	if b := t.GetRetentionBytes(); b > 0 {
		s.Configs["retention.bytes"] = strconv.FormatInt(b, 10)
	}
	if c := t.GetCompression(); c != "" {
		s.Configs["compression.type"] = c
	}
	return s
}

// Desired lists the topics of a catalog: every dataset's own topic, and
// every route's topic with the settings of the route's dataset. When several
// datasets claim one topic, the first by name decides its settings.
func Desired(datasets map[string]*routingv1.Dataset, routes map[string]*routingv1.Route) []Spec {
	byTopic := map[string]Spec{}
	claim := func(topic string, d *routingv1.Dataset) {
		if _, ok := byTopic[topic]; !ok && topic != "" && d != nil {
			byTopic[topic] = SpecOf(topic, d.GetTopic())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(datasets)) {
		claim(datasets[name].GetTopic().GetTopic(), datasets[name])
	}
	for _, name := range slices.Sorted(maps.Keys(routes)) {
		claim(routes[name].GetTopic(), datasets[routes[name].GetDataset()])
	}
	specs := slices.Collect(maps.Values(byTopic))
	slices.SortFunc(specs, func(a, b Spec) int { return cmp.Compare(a.Name, b.Name) })
	return specs
}

// Reconciler applies specs to Kafka.
type Reconciler struct {
	adm *kadm.Client
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	want    []Spec
	changed chan struct{}
}

// New returns a reconciler; Run applies what Want asks for.
func New(adm *kadm.Client, log *slog.Logger, reg prometheus.Registerer) (*Reconciler, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Reconciler{adm: adm, log: log, m: m, changed: make(chan struct{}, 1)}, nil
}

// Want replaces the desired topics; Run reconciles them soon after.
func (r *Reconciler) Want(specs []Spec) {
	r.mu.Lock()
	r.want = specs
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Run reconciles after every Want, retrying failures with a growing pause,
// and every interval, to undo changes made behind the router's back.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	const minRetry, maxRetry = time.Second, time.Minute
	retry := minRetry
	timer := time.NewTimer(0)
	timer.Stop() // until the first Want
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.changed:
		case <-timer.C:
		}
		r.mu.Lock()
		specs := r.want
		r.mu.Unlock()
		if err := r.Reconcile(ctx, specs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("topics not reconciled; retrying", "err", err, "in", retry)
			timer.Reset(retry)
			retry = min(2*retry, maxRetry)
			continue
		}
		timer.Reset(interval)
		retry = minRetry
	}
}

// Reconcile makes the topics match specs: creates the missing, alters the
// configs that differ, adds partitions. It returns every error met, having
// done what it could.
func (r *Reconciler) Reconcile(ctx context.Context, specs []Spec) error {
	if len(specs) == 0 {
		return nil
	}
	details, err := r.adm.ListTopics(ctx, names(specs)...)
	if err != nil {
		r.m.errors.Inc()
		return fmt.Errorf("listing topics: %w", err)
	}
	var errs []error
	var existing []Spec
	for _, s := range specs {
		d, ok := details[s.Name]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			// Metadata can lag (the client caches it, brokers learn late):
			// a topic that turns out to exist still gets its configs.
			existed, err := r.create(ctx, s)
			if existed {
				existing = append(existing, s)
			}
			errs = append(errs, err)
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, d.Err))
		default:
			existing = append(existing, s)
			errs = append(errs, r.resize(ctx, s, d))
		}
	}
	errs = append(errs, r.alterConfigs(ctx, existing))
	err = errors.Join(errs...)
	if err != nil {
		r.m.errors.Inc()
	}
	return err
}

// create makes topic s; existed says it was there already.
func (r *Reconciler) create(ctx context.Context, s Spec) (existed bool, err error) {
	configs := make(map[string]*string, len(s.Configs))
	for k, v := range s.Configs {
		configs[k] = kadm.StringPtr(v)
	}
	partitions, replication := s.Partitions, s.ReplicationFactor
	if partitions == 0 {
		partitions = -1
	}
	if replication == 0 {
		replication = -1
	}
	resp, err := r.adm.CreateTopic(ctx, partitions, replication, configs, s.Name)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("creating topic %s: %w %s", s.Name, err, resp.ErrMessage)
	}
	r.m.created.Inc()
	r.log.Info("topic created", "topic", s.Name, "partitions", resp.NumPartitions, "replication_factor", resp.ReplicationFactor, "configs", s.Configs)
	return false, nil
}

// resize adds partitions when the spec asks for more, and reports what it
// will not change.
func (r *Reconciler) resize(ctx context.Context, s Spec, d kadm.TopicDetail) error {
	have := int32(len(d.Partitions))
	switch {
	case s.Partitions > have:
		resp, err := r.adm.UpdatePartitions(ctx, int(s.Partitions), s.Name)
		if err == nil {
			err = resp[s.Name].Err
		}
		if err != nil {
			return fmt.Errorf("adding partitions to %s: %w", s.Name, err)
		}
		r.log.Info("partitions added", "topic", s.Name, "from", have, "to", s.Partitions)
	case s.Partitions > 0 && s.Partitions < have:
		r.log.Warn("topic has more partitions than configured; partitions are never removed", "topic", s.Name, "have", have, "want", s.Partitions)
	}
	if rf := d.Partitions.NumReplicas(); s.ReplicationFactor > 0 && rf != int(s.ReplicationFactor) {
		r.log.Warn("topic replication factor differs from the configured one; changing it needs a partition reassignment", "topic", s.Name, "have", rf, "want", s.ReplicationFactor)
	}
	return nil
}

// alterConfigs sets, incrementally, the configs that differ from the specs.
func (r *Reconciler) alterConfigs(ctx context.Context, specs []Spec) error {
	if len(specs) == 0 {
		return nil
	}
	described, err := r.adm.DescribeTopicConfigs(ctx, names(specs)...)
	if err != nil {
		return fmt.Errorf("describing topic configs: %w", err)
	}
	var errs []error
	for _, s := range specs {
		rc, err := described.On(s.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("configs of %s: %w", s.Name, err))
			continue
		}
		have := map[string]string{}
		for _, c := range rc.Configs {
			have[c.Key] = c.MaybeValue()
		}
		var alters []kadm.AlterConfig
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			if have[k] != s.Configs[k] {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(s.Configs[k])})
			}
		}
		if len(alters) == 0 {
			continue
		}
		resps, err := r.adm.AlterTopicConfigs(ctx, alters, s.Name)
		if err == nil {
			var resp kadm.AlterConfigsResponse
			if resp, err = resps.On(s.Name, nil); err == nil {
				err = resp.Err
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("altering configs of %s: %w", s.Name, err))
			continue
		}
		r.m.altered.Add(float64(len(alters)))
		for _, a := range alters {
			r.log.Info("topic config altered", "topic", s.Name, "config", a.Name, "from", have[a.Name], "to", *a.Value)
		}
	}
	return errors.Join(errs...)
}

type metrics struct {
	created, altered, errors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("router")
	m := &metrics{
		created: s.Counter("topics_created_total", "Kafka topics created by the router."),
		altered: s.Counter("topic_configs_altered_total", "Topic configs (retention.ms, retention.bytes, compression.type) changed to match the catalog."),
		errors:  s.Counter("topic_reconcile_errors_total", "Topic reconciliations that failed (retried)."),
	}
	return m, s.Register(reg)
}

// names are the specs' topic names, in order.
func names(specs []Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}
