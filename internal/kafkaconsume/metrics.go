package kafkaconsume

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

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
	s := metricset.New(name)
	m := &metrics{
		consumed:       s.CounterVec("records_consumed_total", "Records consumed from Kafka, by topic.", "topic"),
		fetchErrors:    s.Counter("fetch_errors_total", "Errors fetching from Kafka."),
		flushFailures:  s.Counter("flush_failures_total", "Flushes that left records unstored (retried with backoff)."),
		commits:        s.Counter("commits_total", "Successful offset commits."),
		commitFailures: s.Counter("commit_failures_total", "Offset commits that failed (whole requests or single partitions)."),
		paused:         s.Gauge("fetching_paused", "1 while fetching is paused because the sink fails or is full."),
		lag:            s.GaugeVec("consumer_lag", "Records between this member's committed offset and the end of each partition it owns.", "topic", "partition"),
	}
	return m, s.Register(reg)
}
