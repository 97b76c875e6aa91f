package renderer

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	renders        *prometheus.CounterVec
	checkFailures  *prometheus.CounterVec
	reloadFailures *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	members        *prometheus.GaugeVec
	lastSuccess    *prometheus.GaugeVec
	failing        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hindsight", "render"
	m := &metrics{
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "renders_total",
			Help: "Template renders by resource and result: changed, unchanged, noop, template_error, check_failed, write_error.",
		}, []string{"resource", "result"}),
		checkFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "check_failures_total",
			Help: "Candidate files the check command rejected (the old file was kept).",
		}, []string{"resource"}),
		reloadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "reload_failures_total",
			Help: "Reload commands that failed.",
		}, []string{"resource"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "reloads_total",
			Help: "Reload commands that succeeded.",
		}, []string{"resource"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "watch_to_reload_seconds",
			Help:    "From the first etcd watch event of a burst to the end of the reload it caused (includes the debounce wait).",
			Buckets: []float64{.01, .025, .05, .1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10},
		}, []string{"resource"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "members",
			Help: "Members per service seen by the last render of a resource, by health.",
		}, []string{"resource", "service", "health"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "last_success_timestamp_seconds",
			Help: "When a resource was last rendered (and checked, written, reloaded) without error.",
		}, []string{"resource"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "failing",
			Help: "1 while a resource's last render failed (its destination holds the last good output), else 0.",
		}, []string{"resource"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.renders, m.checkFailures, m.reloadFailures, m.reloads, m.latency, m.members, m.lastSuccess, m.failing} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) init(resource string) {
	for _, r := range []string{"changed", "unchanged", "noop", "template_error", "check_failed", "write_error"} {
		m.renders.WithLabelValues(resource, r)
	}
	m.checkFailures.WithLabelValues(resource)
	m.reloadFailures.WithLabelValues(resource)
	m.reloads.WithLabelValues(resource)
	m.failing.WithLabelValues(resource)
}
