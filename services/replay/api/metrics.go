package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

type metrics struct {
	created, deleted, expired, resumed prometheus.Counter
	finished                           *prometheus.CounterVec
	active, sources                    prometheus.Gauge
	loaded, skipped, bytes, files      prometheus.Counter
	errors                             prometheus.Counter
	searches                           *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("replay")
	m := &metrics{
		created:  s.Counter("created_total", "Replays created."),
		deleted:  s.Counter("deleted_total", "Replays deleted on request."),
		expired:  s.Counter("expired_total", "Replays deleted because their TTL ran out."),
		resumed:  s.Counter("resumed_total", "Unfinished loads resumed at start-up."),
		finished: s.CounterVec("loads_finished_total", "Loads finished, by final state.", "state"),
		active:   s.Gauge("loads_active", "Loads running now."),
		sources:  s.Gauge("sources_open", "Sources (buckets, parsers) open now: the cached ones, at most 16, and evicted ones a load still reads."),
		loaded:   s.Counter("events_loaded_total", "Events put into replay indices."),
		skipped:  s.Counter("events_skipped_total", "Events read but outside the range or not matching the query."),
		bytes:    s.Counter("read_bytes_total", "Compressed bytes read from sources."),
		files:    s.Counter("files_loaded_total", "Source files fully loaded."),
		errors:   s.Counter("load_errors_total", "Errors that failed a file or a load."),
		searches: s.HistogramVec("search_seconds", "Search latency, by replay or live.", prometheus.ExponentialBuckets(0.002, 2, 14), "kind"),
	}
	return m, s.Register(reg)
}
