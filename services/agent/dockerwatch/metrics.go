package dockerwatch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

type metrics struct {
	registered      prometheus.Gauge
	registrations   *prometheus.CounterVec
	deregistrations *prometheus.CounterVec
	keepalives      *prometheus.CounterVec
	events          *prometheus.CounterVec
	invalid         prometheus.Counter
	reconciles      prometheus.Counter
	engineUp        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("agent_docker")
	m := &metrics{
		registered:      s.Gauge("registered_containers", "Labelled containers this agent keeps registered."),
		registrations:   s.CounterVec("registrations_total", "Register calls to membership, by result (ok, error).", "result"),
		deregistrations: s.CounterVec("deregistrations_total", "Deregister calls to membership, by result (ok, error).", "result"),
		keepalives:      s.CounterVec("keepalives_total", "KeepAlive calls to membership, by result (ok, not_found, error).", "result"),
		events:          s.CounterVec("events_total", "Container events received from the engine, by action.", "action"),
		invalid:         s.Counter("invalid_containers_total", "Labelled containers not registered because of bad labels or no usable network."),
		reconciles:      s.Counter("reconciles_total", "Full reconciliations with the engine's running containers."),
		engineUp:        s.Gauge("engine_up", "1 while the engine's event stream is followed, else 0."),
	}
	return m, s.Register(reg)
}
