package harvester

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
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
	s := metricset.New("harvester")
	perInput := func(name, help string) *prometheus.CounterVec { return s.CounterVec(name, help, "input") }
	m := &metrics{
		linesRead:      perInput("lines_read_total", "Lines read from files (before multiline joining and filters)."),
		bytesRead:      perInput("bytes_read_total", "Bytes read from files (decompressed for .gz), newlines included."),
		linesTruncated: perInput("lines_truncated_total", "Events cut at max_line_bytes and flagged truncated."),
		linesExcluded:  perInput("lines_excluded_total", "Events dropped by include_lines/exclude_lines."),
		linesUndecodable: perInput("lines_undecodable_total",
			"Lines of a container log whose envelope (json-file, CRI) did not decode; shipped as they are."),
		batchesSent:   perInput("batches_sent_total", "Batches written to a router stream, resends included."),
		batchesResent: perInput("batches_resent_total", "Batches sent again after a stream broke before their acknowledgement."),
		batchesAcked:  perInput("batches_acked_total", "Batches acknowledged by a router (committed to Kafka)."),
		reconnects:    perInput("router_reconnects_total", "Router streams that ended and were opened again."),
		inFlight:      s.GaugeVec("batches_in_flight", "Batches awaiting acknowledgement (the window in use).", "input"),
		ackLatency: s.HistogramVec("ack_latency_seconds", "Time from sending a batch to its acknowledgement.",
			prometheus.ExponentialBuckets(0.001, 2.5, 12), "input"),
		openFiles:      s.Gauge("open_files", "Files being read."),
		registryFiles:  s.Gauge("registry_files", "Files in the registry."),
		inputs:         s.Gauge("inputs", "Inputs running: configured ones and those discovered (dataset folders, containers)."),
		inputsRefused:  s.Counter("inputs_refused_total", "Discovered inputs not started: invalid, a name taken, or over their discovery's most."),
		registryWrites: s.CounterVec("registry_writes_total", "Registry writes by result: ok or error.", "result"),
	}
	m.registryWrites.WithLabelValues("ok")
	m.registryWrites.WithLabelValues("error")
	return m, s.Register(reg)
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
