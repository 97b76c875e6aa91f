package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
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
	s := metricset.New("router")
	m := &metrics{
		batches:       s.CounterVec("batches_received_total", "Batches received, by dataset.", "dataset"),
		lines:         s.CounterVec("lines_received_total", "Lines received, by dataset.", "dataset"),
		bytes:         s.CounterVec("line_bytes_received_total", "Bytes of lines received, by dataset.", "dataset"),
		parseFailures: s.CounterVec("parse_failures_total", "Lines kept raw because they did not parse, by dataset.", "dataset"),
		acks:          s.CounterVec("batches_acked_total", "Batches acknowledged after Kafka committed every record, by dataset.", "dataset"),
		batchFailures: s.CounterVec("batches_failed_total", "Batches not acknowledged because a record was not produced, by dataset.", "dataset"),
		records:       s.CounterVec("records_produced_total", "Records Kafka acknowledged, by topic.", "topic"),
		produceErrors: s.CounterVec("produce_errors_total", "Records Kafka did not acknowledge, by topic.", "topic"),
		produceLatency: s.Histogram("produce_latency_seconds", "Time from handing a record to the producer to Kafka's acknowledgement.",
			prometheus.ExponentialBuckets(0.001, 2, 15)),
		inflightRecords: s.Gauge("inflight_records", "Records handed to the producer and not yet acknowledged."),
		inflightBatches: s.Gauge("inflight_batches", "Batches received and not yet acknowledged or failed."),
		streams:         s.Gauge("ingest_streams", "Open Ingest streams."),
		datasets:        s.Gauge("datasets", "Datasets in the catalog this router routes by."),
		processorSteps: s.CounterVec("processor_steps_total",
			"Events a dataset's processor step changed (or dropped), by dataset and step (position:operation).", "dataset", "step"),
		dropped: s.CounterVec("events_dropped_total", "Events a processor step dropped on purpose, by dataset.", "dataset"),
	}
	return m, s.Register(reg)
}
