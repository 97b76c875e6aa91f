package dockerwatch

import "github.com/prometheus/client_golang/prometheus"

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
	const ns, sub = "hindsight", "agent_docker"
	m := &metrics{
		registered: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "registered_containers",
			Help: "Labelled containers this agent keeps registered.",
		}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "registrations_total",
			Help: "Register calls to membership, by result (ok, error).",
		}, []string{"result"}),
		deregistrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "deregistrations_total",
			Help: "Deregister calls to membership, by result (ok, error).",
		}, []string{"result"}),
		keepalives: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "keepalives_total",
			Help: "KeepAlive calls to membership, by result (ok, not_found, error).",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Container events received from the engine, by action.",
		}, []string{"action"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "invalid_containers_total",
			Help: "Labelled containers not registered because of bad labels or no usable network.",
		}),
		reconciles: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "reconciles_total",
			Help: "Full reconciliations with the engine's running containers.",
		}),
		engineUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "engine_up",
			Help: "1 while the engine's event stream is followed, else 0.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.registered, m.registrations, m.deregistrations, m.keepalives, m.events, m.invalid, m.reconciles, m.engineUp} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
