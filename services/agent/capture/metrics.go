package capture

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

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
	s := metricset.New("capture")
	perIface := func(name, help string) *prometheus.CounterVec { return s.CounterVec(name, help, "interface") }
	m := &Metrics{
		packets:      perIface("packets_total", "Frames read from the interface."),
		segments:     perIface("tcp_segments_total", "TCP segments among them."),
		connections:  perIface("connections_total", "TCP connections followed."),
		droppedConns: perIface("dropped_connections_total", "Connections not followed: the connection limit was reached."),
		gaps:         perIface("gaps_total", "Times bytes of a connection were lost (capture drops, buffer limit) and its decoder resynchronised."),
		decodeErr:    perIface("decode_errors_total", "Bytes a decoder could not parse (it resynchronised)."),
		kernelDrops:  perIface("kernel_drops_total", "Frames the kernel dropped because the socket buffer was full."),
		tracked:      s.GaugeVec("connections", "TCP connections tracked now.", "interface"),
		buffered:     s.GaugeVec("buffered_bytes", "Bytes held out of order, waiting for missing ones.", "interface"),
		interfaces:   s.Gauge("interfaces", "Interfaces captured on."),
		transactions: s.CounterVec("transactions_total", "Requests paired with their responses, by protocol and status class.", "protocol", "status"),
		dropped:      s.CounterVec("dropped_total", "Flow records or transactions dropped, by reason.", "reason"),
		flows:        s.Counter("flows_reported_total", "Flow records the topology service accepted."),
		reportErrors: s.Counter("report_errors_total", "Failed ReportFlows calls."),
	}
	return m, s.Register(reg)
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
