package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	batches         *prometheus.CounterVec // by dataset
	lines           *prometheus.CounterVec // by dataset
	bytes           *prometheus.CounterVec // by dataset
	parseFailures   *prometheus.CounterVec // by dataset
	acks            *prometheus.CounterVec // by dataset
	batchFailures   *prometheus.CounterVec // by dataset
	records         *prometheus.CounterVec // by topic
	produceErrors   *prometheus.CounterVec // by topic
	produceLatency  prometheus.Histogram
	inflightRecords prometheus.Gauge
	inflightBatches prometheus.Gauge
	streams         prometheus.Gauge
	datasets        prometheus.Gauge
	processorSteps  *prometheus.CounterVec // by dataset and step ("0:rename")
	dropped         *prometheus.CounterVec // by dataset
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hindsight", "router"
	counter := func(name, help string, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{label})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		batches:       counter("batches_received_total", "Batches received, by dataset.", "dataset"),
		lines:         counter("lines_received_total", "Lines received, by dataset.", "dataset"),
		bytes:         counter("line_bytes_received_total", "Bytes of lines received, by dataset.", "dataset"),
		parseFailures: counter("parse_failures_total", "Lines kept raw because they did not parse, by dataset.", "dataset"),
		acks:          counter("batches_acked_total", "Batches acknowledged after Kafka committed every record, by dataset.", "dataset"),
		batchFailures: counter("batches_failed_total", "Batches not acknowledged because a record was not produced, by dataset.", "dataset"),
		records:       counter("records_produced_total", "Records Kafka acknowledged, by topic.", "topic"),
		produceErrors: counter("produce_errors_total", "Records Kafka did not acknowledge, by topic.", "topic"),
		produceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "produce_latency_seconds",
			Help:    "Time from handing a record to the producer to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		inflightRecords: gauge("inflight_records", "Records handed to the producer and not yet acknowledged."),
		inflightBatches: gauge("inflight_batches", "Batches received and not yet acknowledged or failed."),
		streams:         gauge("ingest_streams", "Open Ingest streams."),
		datasets:        gauge("datasets", "Datasets in the catalog this router routes by."),
		processorSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "processor_steps_total",
			Help: "Events a dataset's processor step changed (or dropped), by dataset and step (position:operation)."}, []string{"dataset", "step"}),
		dropped: counter("events_dropped_total", "Events a processor step dropped on purpose, by dataset.", "dataset"),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.batches, m.lines, m.bytes, m.parseFailures, m.acks, m.batchFailures,
			m.records, m.produceErrors, m.produceLatency, m.inflightRecords, m.inflightBatches, m.streams, m.datasets, m.processorSteps, m.dropped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
