package bulk

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

type metrics struct {
	bulkRequests *prometheus.CounterVec
	bulkDocs     prometheus.Counter
	bulkSeconds  prometheus.Histogram
	indexed      prometheus.Counter
	retries      prometheus.Counter
	deadLetters  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("indexer")
	m := &metrics{
		bulkRequests: s.CounterVec("bulk_requests_total", "Bulk requests by result: ok (per-document results came back) or failed (none did).", "result"),
		bulkDocs:     s.Counter("bulk_docs_total", "Documents sent in bulk requests, retries included."),
		bulkSeconds:  s.Histogram("bulk_duration_seconds", "Bulk request latency.", prometheus.ExponentialBuckets(0.005, 2, 14)),
		indexed:      s.Counter("docs_indexed_total", "Documents OpenSearch stored."),
		retries:      s.Counter("doc_retries_total", "Documents that failed for a retryable reason (429, 5xx, cluster unreachable) and will be sent again."),
		deadLetters:  s.Counter("dead_letters_total", "Documents OpenSearch rejected (or not JSON), sent to the dead-letter topic."),
	}
	m.bulkRequests.WithLabelValues("ok")
	m.bulkRequests.WithLabelValues("failed")
	return m, s.Register(reg)
}
