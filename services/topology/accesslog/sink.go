package accesslog

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	ecs "github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// DefaultTopicsRegex matches the router's topics of access-log datasets
// (logs.nginx.access, logs.haproxy.access, …).
const DefaultTopicsRegex = `^logs\..*access.*`

// Report takes one flow into the graph: the topology service's Report, the
// same path as ReportFlows.
type Report func(*topologyv1.Flow) (accepted bool, err error)

// Sink is the kafkaconsume.Sink of the topology service: every record's ECS
// document goes through Flow into report as it arrives.
//
// Offsets: flows are in-memory aggregates, lost at a restart whatever was
// committed, so a record is done once it is fed and Flush commits right away.
// Nothing is ever held back: the sink is never full, never fails, and a
// rebalance leaves nothing to drop.
type Sink struct {
	report  Report
	resolve Resolver
	log     *slog.Logger
	marks   kafkaconsume.Marks
	m       sinkMetrics
}

type sinkMetrics struct {
	flows   prometheus.Counter
	skipped *prometheus.CounterVec
}

// Reasons a record gives no flow (label of the skipped counter).
const (
	skipUndecodable = "undecodable"
	skipNotAccess   = "not_access_log"
	skipInvalid     = "invalid_flow"
)

// NewSink feeds report, resolving client addresses with resolve (nil: every
// client is the Internet). Metrics are registered on reg (nil: none).
func NewSink(report Report, resolve Resolver, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Sink{report: report, resolve: resolve, log: log, marks: kafkaconsume.Marks{}, m: sinkMetrics{
		flows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hindsight_topology_access_log_flows_total",
			Help: "Flows made from access-log records and reported to the graph (accepted or not: see hindsight_topology_flows_total).",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hindsight_topology_access_log_skipped_total",
			Help: "Consumed records that gave no flow, by reason (undecodable, not_access_log, invalid_flow).",
		}, []string{"reason"}),
	}}
	for _, r := range []string{skipUndecodable, skipNotAccess, skipInvalid} {
		s.m.skipped.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.m.flows, s.m.skipped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Add turns the record into a flow and reports it; a record that is not an
// access log is skipped and counted.
func (s *Sink) Add(r *kgo.Record) {
	s.marks.Mark(r)
	e, err := ecs.Unmarshal(r.Value)
	if err != nil {
		s.m.skipped.WithLabelValues(skipUndecodable).Inc()
		s.log.Debug("access log record not decodable", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	f, ok := Flow(e, s.resolve)
	if !ok {
		s.m.skipped.WithLabelValues(skipNotAccess).Inc()
		return
	}
	if _, err := s.report(f); err != nil {
		s.m.skipped.WithLabelValues(skipInvalid).Inc()
		s.log.Debug("access log flow invalid", "topic", r.Topic, "offset", r.Offset, "err", err)
		return
	}
	s.m.flows.Inc()
}

// Flush has nothing to store: it hands over the marks of what Add fed.
func (s *Sink) Flush(context.Context, bool, kafkaconsume.Parts) (kafkaconsume.Marks, error) {
	m := s.marks
	s.marks = kafkaconsume.Marks{}
	return m, nil
}

// Full is never: records are fed as they come.
func (s *Sink) Full() bool { return false }

// Forget drops the marks of partitions no longer owned (their flows are
// already in the graph; the next owner may count them again, a blip the
// window absorbs).
func (s *Sink) Forget(parts kafkaconsume.Parts) {
	for t, ps := range s.marks {
		for p := range ps {
			if parts.Has(t, p) {
				delete(ps, p)
			}
		}
		if len(ps) == 0 {
			delete(s.marks, t)
		}
	}
}
