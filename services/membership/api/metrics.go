package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
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
	s := metricset.New("membership")
	m := &metrics{
		registrations:   s.Counter("registrations_total", "Members registered (including registered again)."),
		deregistrations: s.Counter("deregistrations_total", "Members deregistered by a client."),
		keepalives:      s.CounterVec("keepalives_total", "KeepAlive calls by result: ok, not_found or error.", "result"),
		members:         s.GaugeVec("members", "Members currently registered, by service (kept from a watch on etcd).", "service"),
		watchStreams:    s.Gauge("watch_streams", "Open Watch streams."),
		watchEvents:     s.CounterVec("watch_events_total", "Member events sent on Watch streams, by type.", "type"),
		etcdUp:          s.Gauge("etcd_up", "1 when the last etcd reachability check succeeded, else 0."),
	}
	for _, r := range []string{"ok", "not_found", "error"} {
		m.keepalives.WithLabelValues(r)
	}
	for _, t := range []string{"join", "update", "leave"} {
		m.watchEvents.WithLabelValues(t)
	}
	m.etcdUp.Set(1)
	return m, s.Register(reg)
}
