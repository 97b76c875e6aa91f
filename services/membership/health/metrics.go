package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

type metrics struct {
	transitions *prometheus.CounterVec
	probes      *prometheus.CounterVec
	duration    prometheus.Histogram
	leader      prometheus.Gauge
	probed      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("membership")
	m := &metrics{
		transitions: s.CounterVec("health_transitions_total", "Health changes stored by the prober, by service and new health (healthy, unhealthy).", "service", "to"),
		probes:      s.CounterVec("probes_total", "Health probes run, by service and result (ok, fail).", "service", "result"),
		duration: s.Histogram("probe_duration_seconds", "Time one health probe took.",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}),
		leader: s.Gauge("prober_leader", "1 while this replica is the elected prober, else 0."),
		probed: s.Gauge("probed_members", "Members with a health check this replica is probing."),
	}
	return m, s.Register(reg)
}

func (m *metrics) observeProbe(service string, ok bool, d time.Duration) {
	r := "fail"
	if ok {
		r = "ok"
	}
	m.probes.WithLabelValues(service, r).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *metrics) transition(service string, to membershipv1.Health) {
	label := "unhealthy"
	if to == membershipv1.Health_HEALTH_HEALTHY {
		label = "healthy"
	}
	m.transitions.WithLabelValues(service, label).Inc()
}
