package bulk

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	bulkRequests *prometheus.CounterVec
	bulkDocs     prometheus.Counter
	bulkSeconds  prometheus.Histogram
	indexed      prometheus.Counter
	retries      prometheus.Counter
	deadLetters  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hindsight", "indexer"
	m := &metrics{
		bulkRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bulk_requests_total",
			Help: "Bulk requests by result: ok (per-document results came back) or failed (none did).",
		}, []string{"result"}),
		bulkDocs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bulk_docs_total",
			Help: "Documents sent in bulk requests, retries included.",
		}),
		bulkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "bulk_duration_seconds",
			Help:    "Bulk request latency.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "docs_indexed_total",
			Help: "Documents OpenSearch stored.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "doc_retries_total",
			Help: "Documents that failed for a retryable reason (429, 5xx, cluster unreachable) and will be sent again.",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Documents OpenSearch rejected (or not JSON), sent to the dead-letter topic.",
		}),
	}
	m.bulkRequests.WithLabelValues("ok")
	m.bulkRequests.WithLabelValues("failed")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bulkRequests, m.bulkDocs, m.bulkSeconds, m.indexed, m.retries, m.deadLetters} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
