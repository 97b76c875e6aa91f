package renderer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

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
	s := metricset.New("render")
	m := &metrics{
		renders: s.CounterVec("renders_total",
			"Template renders by resource and result: changed, unchanged, noop, template_error, check_failed, write_error.", "resource", "result"),
		checkFailures:  s.CounterVec("check_failures_total", "Candidate files the check command rejected (the old file was kept).", "resource"),
		reloadFailures: s.CounterVec("reload_failures_total", "Reload commands that failed.", "resource"),
		reloads:        s.CounterVec("reloads_total", "Reload commands that succeeded.", "resource"),
		latency: s.HistogramVec("watch_to_reload_seconds",
			"From the first etcd watch event of a burst to the end of the reload it caused (includes the debounce wait).",
			[]float64{.01, .025, .05, .1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10}, "resource"),
		members:     s.GaugeVec("members", "Members per service seen by the last render of a resource, by health.", "resource", "service", "health"),
		lastSuccess: s.GaugeVec("last_success_timestamp_seconds", "When a resource was last rendered (and checked, written, reloaded) without error.", "resource"),
		failing:     s.GaugeVec("failing", "1 while a resource's last render failed (its destination holds the last good output), else 0.", "resource"),
	}
	return m, s.Register(reg)
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
