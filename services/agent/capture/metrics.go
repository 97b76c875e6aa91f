package capture

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the capture; the per-interface counters are published from the
// reassemblers' own counters once a second (they count without locks).
type Metrics struct {
	packets, segments, connections *prometheus.CounterVec
	droppedConns, gaps, decodeErr  *prometheus.CounterVec
	kernelDrops                    *prometheus.CounterVec
	tracked, buffered              *prometheus.GaugeVec
	interfaces                     prometheus.Gauge
	transactions                   *prometheus.CounterVec
	dropped                        *prometheus.CounterVec
	flows                          prometheus.Counter
	reportErrors                   prometheus.Counter
}

// NewMetrics creates the capture's metrics and registers them on reg (nil:
// not registered, as in tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	iface := []string{"interface"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hindsight_capture_" + name, Help: help}, iface)
	}
	m := &Metrics{
		packets:      counter("packets_total", "Frames read from the interface."),
		segments:     counter("tcp_segments_total", "TCP segments among them."),
		connections:  counter("connections_total", "TCP connections followed."),
		droppedConns: counter("dropped_connections_total", "Connections not followed: the connection limit was reached."),
		gaps:         counter("gaps_total", "Times bytes of a connection were lost (capture drops, buffer limit) and its decoder resynchronised."),
		decodeErr:    counter("decode_errors_total", "Bytes a decoder could not parse (it resynchronised)."),
		kernelDrops:  counter("kernel_drops_total", "Frames the kernel dropped because the socket buffer was full."),
		tracked:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hindsight_capture_connections", Help: "TCP connections tracked now."}, iface),
		buffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hindsight_capture_buffered_bytes",
			Help: "Bytes held out of order, waiting for missing ones."}, iface),
		interfaces: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hindsight_capture_interfaces", Help: "Interfaces captured on."}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hindsight_capture_transactions_total",
			Help: "Requests paired with their responses, by protocol and status class."}, []string{"protocol", "status"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hindsight_capture_dropped_total",
			Help: "Flow records or transactions dropped, by reason."}, []string{"reason"}),
		flows:        prometheus.NewCounter(prometheus.CounterOpts{Name: "hindsight_capture_flows_reported_total", Help: "Flow records the topology service accepted."}),
		reportErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hindsight_capture_report_errors_total", Help: "Failed ReportFlows calls."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.packets, m.segments, m.connections, m.droppedConns, m.gaps, m.decodeErr,
			m.kernelDrops, m.tracked, m.buffered, m.interfaces, m.transactions, m.dropped, m.flows, m.reportErrors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// publish adds what a reassembler counted since the last call.
func (m *Metrics) publish(iface string, now, last *Counters, conns int, buffered int64) {
	m.packets.WithLabelValues(iface).Add(float64(now.Packets - last.Packets))
	m.segments.WithLabelValues(iface).Add(float64(now.Segments - last.Segments))
	m.connections.WithLabelValues(iface).Add(float64(now.Connections - last.Connections))
	m.droppedConns.WithLabelValues(iface).Add(float64(now.DroppedConnections - last.DroppedConnections))
	m.gaps.WithLabelValues(iface).Add(float64(now.Gaps - last.Gaps))
	m.decodeErr.WithLabelValues(iface).Add(float64(now.DecodeErrors - last.DecodeErrors))
	m.tracked.WithLabelValues(iface).Set(float64(conns))
	m.buffered.WithLabelValues(iface).Set(float64(buffered))
	*last = *now
}
