package capture

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Container is what the agent knows of the owner of an address.
type Container struct {
	Name    string
	Service string
}

// Resolver names the container behind an address (false: not one of ours,
// e.g. the Internet through a published port).
type Resolver interface {
	Lookup(ip netip.Addr) (Container, bool)
}

// DefaultFlushInterval is how often flows are sent: well under the topology
// service's lag (1s), so a second is complete there when it is counted.
const DefaultFlushInterval = 250 * time.Millisecond

// maxRecords bounds the flow records held between two flushes; past it
// transactions are dropped (and counted) rather than growing memory.
const maxRecords = 50000

const maxOperation = 128

// flowKey groups transactions into one flow record: same endpoints,
// protocol, outcome and operation, in the same second and latency bin. The
// bin keeps the record's mean latency close to each of its requests, so the
// topology service's percentiles stay accurate.
type flowKey struct {
	srcService, srcContainer, srcAddr string
	dstService, dstContainer, dstAddr string
	dstPort                           uint16
	protocol                          topologyv1.Protocol
	status                            topologyv1.StatusClass
	operation                         string
	second                            int64
	bin                               uint8
}

type flowValue struct {
	count          int64
	latency        time.Duration
	sent, received int64
	first          time.Time
}

// latencyBin is a quarter-octave bin of d in microseconds (as the topology
// service's histogram).
func latencyBin(d time.Duration) uint8 {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return uint8(min(math.Ceil(math.Log2(us)*4), 255))
}

// Reporter aggregates transactions into flows and sends them to the
// topology service every flush interval.
type Reporter struct {
	client   topologyv1.TopologyServiceClient
	resolver Resolver
	interval time.Duration
	log      *slog.Logger
	m        *Metrics

	mu      sync.Mutex
	records map[flowKey]*flowValue
}

// NewReporter returns a reporter; interval 0 is DefaultFlushInterval.
func NewReporter(client topologyv1.TopologyServiceClient, resolver Resolver, interval time.Duration, log *slog.Logger, m *Metrics) *Reporter {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	return &Reporter{client: client, resolver: resolver, interval: interval, log: log, m: m, records: map[flowKey]*flowValue{}}
}

// Add records one transaction between client and server.
func (r *Reporter) Add(client, server netip.AddrPort, tx Transaction) {
	r.m.transactions.WithLabelValues(tx.Protocol.String(), tx.Status.String()).Inc()
	k := flowKey{
		dstPort:   server.Port(),
		protocol:  tx.Protocol,
		status:    tx.Status,
		operation: tx.Operation,
		second:    tx.Start.Unix(),
		bin:       latencyBin(tx.Latency),
	}
	if len(k.operation) > maxOperation {
		k.operation = k.operation[:maxOperation]
	}
	if c, ok := r.resolver.Lookup(client.Addr().Unmap()); ok {
		k.srcService, k.srcContainer, k.srcAddr = c.Service, c.Name, client.Addr().Unmap().String()
	} // else: the Internet, one source whatever its address
	dst := server.Addr().Unmap()
	k.dstAddr = dst.String()
	if c, ok := r.resolver.Lookup(dst); ok {
		k.dstService, k.dstContainer = c.Service, c.Name
	} else {
		// Not a container of this node: name it by its address.
		k.dstService = server.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.records[k]
	if v == nil {
		if len(r.records) >= maxRecords {
			r.m.dropped.WithLabelValues("too_many_records").Inc()
			return
		}
		v = &flowValue{first: tx.Start}
		r.records[k] = v
	}
	v.count++
	v.latency += tx.Latency
	v.sent += tx.RequestBytes
	v.received += tx.ResponseBytes
	if tx.Start.Before(v.first) {
		v.first = tx.Start
	}
}

// Run flushes every interval until ctx ends, then once more.
func (r *Reporter) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.flush(fctx)
			cancel()
			return nil
		case <-t.C:
			r.flush(ctx)
		}
	}
}

// takeFlows empties the pending records into flow messages.
func (r *Reporter) takeFlows() []*topologyv1.Flow {
	r.mu.Lock()
	records := r.records
	r.records = make(map[flowKey]*flowValue, len(records))
	r.mu.Unlock()
	flows := make([]*topologyv1.Flow, 0, len(records))
	for k, v := range records {
		flows = append(flows, &topologyv1.Flow{
			Source:        &topologyv1.Endpoint{Service: k.srcService, Container: k.srcContainer, Address: k.srcAddr},
			Destination:   &topologyv1.Endpoint{Service: k.dstService, Container: k.dstContainer, Address: k.dstAddr, Port: int32(k.dstPort)},
			Protocol:      k.protocol,
			Status:        k.status,
			Operation:     k.operation,
			Count:         v.count,
			Latency:       durationpb.New(v.latency),
			BytesSent:     v.sent,
			BytesReceived: v.received,
			Time:          timestamppb.New(v.first),
			Origin:        topologyv1.Origin_ORIGIN_CAPTURE,
		})
	}
	return flows
}

// maxFlowsPerMessage stays under the service's limit per message.
const maxFlowsPerMessage = 5000

func (r *Reporter) flush(ctx context.Context) {
	flows := r.takeFlows()
	total := len(flows)
	if total == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := func() error {
		stream, err := r.client.ReportFlows(cctx)
		if err != nil {
			return err
		}
		for len(flows) > 0 {
			n := min(len(flows), maxFlowsPerMessage)
			if err := stream.Send(&topologyv1.ReportFlowsRequest{Flows: flows[:n]}); err != nil {
				break // the real error comes from CloseAndRecv
			}
			flows = flows[n:]
		}
		_, err = stream.CloseAndRecv()
		return err
	}()
	if err != nil {
		// Flows are statistics: an outage of the topology service loses
		// them rather than piling them up here.
		r.m.dropped.WithLabelValues("report_failed").Add(float64(total))
		r.m.reportErrors.Inc()
		r.log.Warn("reporting flows failed", "err", err, "flows", total)
		return
	}
	r.m.flows.Add(float64(total))
}
