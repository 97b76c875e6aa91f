package sink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

type metrics struct {
	objects      prometheus.Counter
	bytes        prometheus.Counter
	events       prometheus.Counter
	removed      prometheus.Counter
	duplicates   prometheus.Counter
	buffered     prometheus.Gauge
	flushSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	s := metricset.New("archiver")
	m := &metrics{
		objects:    s.Counter("objects_written_total", "Archive objects written (with their manifests)."),
		bytes:      s.Counter("bytes_written_total", "Compressed bytes of archive objects written."),
		events:     s.Counter("events_written_total", "Events written into archive objects (a re-run after a crash writes some again)."),
		removed:    s.Counter("uncommitted_objects_removed_total", "Objects of flushes never committed, removed before archiving their records again."),
		duplicates: s.Counter("duplicates_dropped_total", "Events not archived because an event with the same id was archived shortly before (a resent batch)."),
		buffered:   s.Gauge("buffered_bytes", "Document bytes buffered, not yet written."),
		flushSeconds: s.Histogram("flush_duration_seconds", "Time to write one partition's buffer (journal, objects, manifests).",
			prometheus.ExponentialBuckets(0.005, 2, 14)),
	}
	return m, s.Register(reg)
}
