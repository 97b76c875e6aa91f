package accesslog

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	ecs "github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/metricset"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// DefaultTopicsRegex matches the router's topics of access-log datasets
// (logs.nginx.access, logs.haproxy.access, …).
const DefaultTopicsRegex = `^logs\..*access.*`

// Report takes one flow into the graph: the topology service's Report, the
// same path as ReportFlows.
type Report func(*topologyv1.Flow) (accepted bool, err error)

// Sink is the kafkaconsume.Sink of the topology service: every record's ECS
// document goes through Flow into report as it arrives (a kafkaconsume.Feed:
// flows are in-memory aggregates, a record is done once fed).
type Sink struct {
	*kafkaconsume.Feed
	report  Report
	resolve Resolver
	log     *slog.Logger
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
	ms := metricset.New("topology")
	s := &Sink{report: report, resolve: resolve, log: log, m: sinkMetrics{
		flows: ms.Counter("access_log_flows_total",
			"Flows made from access-log records and reported to the graph (accepted or not: see hindsight_topology_flows_total)."),
		skipped: ms.CounterVec("access_log_skipped_total",
			"Consumed records that gave no flow, by reason (undecodable, not_access_log, invalid_flow).", "reason"),
	}}
	s.Feed = kafkaconsume.NewFeed(s.add)
	for _, r := range []string{skipUndecodable, skipNotAccess, skipInvalid} {
		s.m.skipped.WithLabelValues(r)
	}
	if err := ms.Register(reg); err != nil {
		return nil, err
	}
	return s, nil
}

// add turns the record into a flow and reports it; a record that is not an
// access log is skipped and counted.
func (s *Sink) add(r *kgo.Record) {
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
