package api

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	created, deleted, expired, resumed prometheus.Counter
	finished                           *prometheus.CounterVec
	active, sources                    prometheus.Gauge
	loaded, skipped, bytes, files      prometheus.Counter
	errors                             prometheus.Counter
	searches                           *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hindsight", Subsystem: "replay", Name: name, Help: help})
	}
	m := &metrics{
		created:  c("created_total", "Replays created."),
		deleted:  c("deleted_total", "Replays deleted on request."),
		expired:  c("expired_total", "Replays deleted because their TTL ran out."),
		resumed:  c("resumed_total", "Unfinished loads resumed at start-up."),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hindsight", Subsystem: "replay", Name: "loads_finished_total", Help: "Loads finished, by final state."}, []string{"state"}),
		active:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hindsight", Subsystem: "replay", Name: "loads_active", Help: "Loads running now."}),
		sources:  prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hindsight", Subsystem: "replay", Name: "sources_open", Help: "Sources (buckets, parsers) open now: the cached ones, at most 16, and evicted ones a load still reads."}),
		loaded:   c("events_loaded_total", "Events put into replay indices."),
		skipped:  c("events_skipped_total", "Events read but outside the range or not matching the query."),
		bytes:    c("read_bytes_total", "Compressed bytes read from sources."),
		files:    c("files_loaded_total", "Source files fully loaded."),
		errors:   c("load_errors_total", "Errors that failed a file or a load."),
		searches: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "hindsight", Subsystem: "replay", Name: "search_seconds", Help: "Search latency, by replay or live.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}, []string{"kind"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.created, m.deleted, m.expired, m.resumed, m.finished, m.active, m.sources, m.loaded, m.skipped, m.bytes, m.files, m.errors, m.searches} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
