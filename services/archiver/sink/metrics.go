package sink

import "github.com/prometheus/client_golang/prometheus"

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
	const ns, sub = "hindsight", "archiver"
	m := &metrics{
		objects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "objects_written_total",
			Help: "Archive objects written (with their manifests).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bytes_written_total",
			Help: "Compressed bytes of archive objects written.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "events_written_total",
			Help: "Events written into archive objects (a re-run after a crash writes some again).",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "uncommitted_objects_removed_total",
			Help: "Objects of flushes never committed, removed before archiving their records again.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "duplicates_dropped_total",
			Help: "Events not archived because an event with the same id was archived shortly before (a resent batch).",
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "buffered_bytes",
			Help: "Document bytes buffered, not yet written.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "flush_duration_seconds",
			Help:    "Time to write one partition's buffer (journal, objects, manifests).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.objects, m.bytes, m.events, m.removed, m.duplicates, m.buffered, m.flushSeconds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
