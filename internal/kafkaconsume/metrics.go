package kafkaconsume

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	consumed       *prometheus.CounterVec
	fetchErrors    prometheus.Counter
	flushFailures  prometheus.Counter
	commits        prometheus.Counter
	commitFailures prometheus.Counter
	paused         prometheus.Gauge
	lag            *prometheus.GaugeVec
}

func newMetrics(name string, reg prometheus.Registerer) (*metrics, error) {
	const ns = "hindsight"
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: name, Name: "records_consumed_total",
			Help: "Records consumed from Kafka, by topic.",
		}, []string{"topic"}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: name, Name: "fetch_errors_total",
			Help: "Errors fetching from Kafka.",
		}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: name, Name: "flush_failures_total",
			Help: "Flushes that left records unstored (retried with backoff).",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: name, Name: "commits_total",
			Help: "Successful offset commits.",
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: name, Name: "commit_failures_total",
			Help: "Offset commits that failed (whole requests or single partitions).",
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: name, Name: "fetching_paused",
			Help: "1 while fetching is paused because the sink fails or is full.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: name, Name: "consumer_lag",
			Help: "Records between this member's committed offset and the end of each partition it owns.",
		}, []string{"topic", "partition"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.consumed, m.fetchErrors, m.flushFailures, m.commits, m.commitFailures, m.paused, m.lag} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
