package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
)

const outcomeInvalid = "invalid"

var outcomeLabel = map[graph.Outcome]string{
	graph.Accepted:     "accepted",
	graph.TooOld:       "too_old",
	graph.TooManyEdges: "too_many_edges",
}

type metrics struct {
	flows    *prometheus.CounterVec
	requests *prometheus.CounterVec
	watchers prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, agg *graph.Aggregator) (*metrics, error) {
	s := metricset.New("topology")
	m := &metrics{
		flows:    s.CounterVec("flows_total", "Flow records received, by outcome (accepted, too_old, too_many_edges, invalid).", "outcome"),
		requests: s.CounterVec("requests_total", "Requests the accepted flows stand for, by protocol and origin.", "protocol", "origin"),
		watchers: s.Gauge("watchers", "Open WatchGraph streams."),
	}
	s.GaugeFunc("edges", "Edges held (including stale ones not faded yet).", func() float64 { e, _ := agg.Size(); return float64(e) })
	s.GaugeFunc("nodes", "Services held.", func() float64 { _, n := agg.Size(); return float64(n) })
	for _, o := range outcomeLabel {
		m.flows.WithLabelValues(o)
	}
	m.flows.WithLabelValues(outcomeInvalid)
	return m, s.Register(reg)
}
