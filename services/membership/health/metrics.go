package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	const ns, sub = "hindsight", "membership"
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "health_transitions_total",
			Help: "Health changes stored by the prober, by service and new health (healthy, unhealthy).",
		}, []string{"service", "to"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "probes_total",
			Help: "Health probes run, by service and result (ok, fail).",
		}, []string{"service", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "probe_duration_seconds",
			Help:    "Time one health probe took.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "prober_leader",
			Help: "1 while this replica is the elected prober, else 0.",
		}),
		probed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "probed_members",
			Help: "Members with a health check this replica is probing.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.transitions, m.probes, m.duration, m.leader, m.probed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
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
