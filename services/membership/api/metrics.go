package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	registrations   prometheus.Counter
	deregistrations prometheus.Counter
	keepalives      *prometheus.CounterVec
	members         *prometheus.GaugeVec
	watchStreams    prometheus.Gauge
	watchEvents     *prometheus.CounterVec
	etcdUp          prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hindsight", "membership"
	m := &metrics{
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "registrations_total",
			Help: "Members registered (including registered again).",
		}),
		deregistrations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "deregistrations_total",
			Help: "Members deregistered by a client.",
		}),
		keepalives: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "keepalives_total",
			Help: "KeepAlive calls by result: ok, not_found or error.",
		}, []string{"result"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "members",
			Help: "Members currently registered, by service (kept from a watch on etcd).",
		}, []string{"service"}),
		watchStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "watch_streams",
			Help: "Open Watch streams.",
		}),
		watchEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "watch_events_total",
			Help: "Member events sent on Watch streams, by type.",
		}, []string{"type"}),
		etcdUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "etcd_up",
			Help: "1 when the last etcd reachability check succeeded, else 0.",
		}),
	}
	for _, r := range []string{"ok", "not_found", "error"} {
		m.keepalives.WithLabelValues(r)
	}
	for _, t := range []string{"join", "update", "leave"} {
		m.watchEvents.WithLabelValues(t)
	}
	m.etcdUp.Set(1)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.registrations, m.deregistrations, m.keepalives, m.members, m.watchStreams, m.watchEvents, m.etcdUp} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
