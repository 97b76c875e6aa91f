package harvester

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/shipper"
)

type metrics struct {
	linesRead, bytesRead, linesTruncated, linesExcluded *prometheus.CounterVec
	linesUndecodable                                    *prometheus.CounterVec
	batchesSent, batchesResent, batchesAcked            *prometheus.CounterVec
	reconnects                                          *prometheus.CounterVec
	inFlight                                            *prometheus.GaugeVec
	ackLatency                                          *prometheus.HistogramVec
	openFiles, registryFiles, inputs                    prometheus.Gauge
	inputsRefused                                       prometheus.Counter
	registryWrites                                      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hindsight", "harvester"
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"input"})
	}
	m := &metrics{
		linesRead:      counter("lines_read_total", "Lines read from files (before multiline joining and filters)."),
		bytesRead:      counter("bytes_read_total", "Bytes read from files (decompressed for .gz), newlines included."),
		linesTruncated: counter("lines_truncated_total", "Events cut at max_line_bytes and flagged truncated."),
		linesExcluded:  counter("lines_excluded_total", "Events dropped by include_lines/exclude_lines."),
		linesUndecodable: counter("lines_undecodable_total",
			"Lines of a container log whose envelope (json-file, CRI) did not decode; shipped as they are."),
		batchesSent:   counter("batches_sent_total", "Batches written to a router stream, resends included."),
		batchesResent: counter("batches_resent_total", "Batches sent again after a stream broke before their acknowledgement."),
		batchesAcked:  counter("batches_acked_total", "Batches acknowledged by a router (committed to Kafka)."),
		reconnects:    counter("router_reconnects_total", "Router streams that ended and were opened again."),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "batches_in_flight",
			Help: "Batches awaiting acknowledgement (the window in use)."}, []string{"input"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "ack_latency_seconds",
			Help:    "Time from sending a batch to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"input"}),
		openFiles: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "open_files",
			Help: "Files being read."}),
		registryFiles: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "registry_files",
			Help: "Files in the registry."}),
		inputs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "inputs",
			Help: "Inputs running: configured ones and those discovered (dataset folders, containers)."}),
		inputsRefused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "inputs_refused_total",
			Help: "Discovered inputs not started: invalid, a name taken, or over their discovery's most."}),
		registryWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "registry_writes_total",
			Help: "Registry writes by result: ok or error."}, []string{"result"}),
	}
	m.registryWrites.WithLabelValues("ok")
	m.registryWrites.WithLabelValues("error")
	for _, c := range []prometheus.Collector{m.linesRead, m.bytesRead, m.linesTruncated, m.linesExcluded, m.linesUndecodable,
		m.batchesSent, m.batchesResent, m.batchesAcked, m.reconnects, m.inFlight, m.ackLatency,
		m.openFiles, m.registryFiles, m.inputs, m.inputsRefused, m.registryWrites} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// inputMetrics are the per-input series, created up front so that they show
// (as zero) before anything happens.
type inputMetrics struct {
	linesRead, bytesRead, linesTruncated, linesExcluded, linesUndecodable prometheus.Counter
}

func (m *metrics) forInput(name string) (inputMetrics, shipper.Metrics) {
	return inputMetrics{
			linesRead:        m.linesRead.WithLabelValues(name),
			bytesRead:        m.bytesRead.WithLabelValues(name),
			linesTruncated:   m.linesTruncated.WithLabelValues(name),
			linesExcluded:    m.linesExcluded.WithLabelValues(name),
			linesUndecodable: m.linesUndecodable.WithLabelValues(name),
		}, shipper.Metrics{
			Sent:       m.batchesSent.WithLabelValues(name),
			Resent:     m.batchesResent.WithLabelValues(name),
			Acked:      m.batchesAcked.WithLabelValues(name),
			Reconnects: m.reconnects.WithLabelValues(name),
			InFlight:   m.inFlight.WithLabelValues(name),
			AckLatency: m.ackLatency.WithLabelValues(name),
		}
}
