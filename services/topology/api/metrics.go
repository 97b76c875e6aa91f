package api

import (
	"github.com/prometheus/client_golang/prometheus"

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
	m := &metrics{
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hindsight_topology_flows_total",
			Help: "Flow records received, by outcome (accepted, too_old, too_many_edges, invalid).",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hindsight_topology_requests_total",
			Help: "Requests the accepted flows stand for, by protocol and origin.",
		}, []string{"protocol", "origin"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hindsight_topology_watchers",
			Help: "Open WatchGraph streams.",
		}),
	}
	edges := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hindsight_topology_edges",
		Help: "Edges held (including stale ones not faded yet).",
	}, func() float64 { e, _ := agg.Size(); return float64(e) })
	nodes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hindsight_topology_nodes",
		Help: "Services held.",
	}, func() float64 { _, n := agg.Size(); return float64(n) })
	for _, o := range outcomeLabel {
		m.flows.WithLabelValues(o)
	}
	m.flows.WithLabelValues(outcomeInvalid)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.flows, m.requests, m.watchers, edges, nodes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
