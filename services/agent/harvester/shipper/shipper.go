// Package shipper sends batches of lines to a router over one
// RoutingService.Ingest stream and tells their owner when the router has
// acknowledged them (which the router does only once Kafka has committed).
//
// At most Window batches are in flight: Send blocks while the window is full,
// so a stalled router stops the reading of files instead of filling memory
// (the files are the buffer). When the stream breaks, the shipper reconnects
// with capped, jittered exponential backoff, to the next router in its order
// if the last attempt failed, and resends every unacknowledged batch.
package shipper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routers"
)

// Batch is a batch for the router and what to do once it is acknowledged.
type Batch struct {
	// Msg is sent as is; the shipper sets its Sequence.
	Msg *routingv1.Batch
	// Acked runs once, when the router acknowledges the batch, on the
	// shipper's receiving goroutine (keep it short).
	Acked func()
}

// Resolver lists the routers; see routers.List.
type Resolver interface {
	Addrs() []string
	Changed() <-chan struct{}
}

// Backoff is capped exponential backoff with jitter.
type Backoff struct {
	Initial, Max time.Duration
}

// Delay is the wait before attempt (0 for the first retry): Initial doubled
// per attempt up to Max, then a random point in its upper half, so that
// agents cut off together do not come back together.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Max
	if attempt < 30 {
		d = min(b.Initial<<attempt, b.Max)
	}
	return d/2 + rand.N(d/2+1)
}

// Metrics are the shipper's instruments, already labelled for its input.
type Metrics struct {
	Sent, Resent, Acked, Reconnects prometheus.Counter
	InFlight                        prometheus.Gauge
	AckLatency                      prometheus.Observer
}

// Options configure a Shipper.
type Options struct {
	// Window is the number of batches that may await acknowledgement.
	Window int
	// Backoff paces reconnections.
	Backoff Backoff
	// AckTimeout is how long a batch may wait for its acknowledgement before
	// the stream is deemed stuck (a half-open connection, a wedged router) and
	// replaced.
	AckTimeout time.Duration
	Metrics    Metrics
	Log        *slog.Logger
}

// Shipper ships the batches of one input (the key that picks its router).
type Shipper struct {
	key     string
	routers Resolver
	pool    *Pool
	opt     Options

	slots chan struct{} // one token per batch in flight
	kick  chan struct{} // a batch was added

	mu      sync.Mutex
	seq     uint64
	gen     uint64 // current stream; flights sent on an older one are resent
	pending map[uint64]*flight
}

type flight struct {
	seq   uint64
	b     *Batch
	gen   uint64    // stream it was last sent on
	sent  time.Time // when it was last sent
	sends int
}

var (
	errAckTimeout  = errors.New("no acknowledgement in time")
	errRouterGone  = errors.New("router left the router list")
	errStreamEnded = errors.New("router ended the stream")
)

// New returns a shipper for key; run it with Run.
func New(key string, rs Resolver, pool *Pool, opt Options) *Shipper {
	return &Shipper{
		key: key, routers: rs, pool: pool, opt: opt,
		slots:   make(chan struct{}, opt.Window),
		kick:    make(chan struct{}, 1),
		pending: map[uint64]*flight{},
	}
}

// Send queues b for the router, blocking while Window batches await their
// acknowledgement. It fails only when ctx is done.
func (s *Shipper) Send(ctx context.Context, b *Batch) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.seq++
	b.Msg.Sequence = s.seq
	s.pending[s.seq] = &flight{seq: s.seq, b: b}
	s.mu.Unlock()
	s.opt.Metrics.InFlight.Inc()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// InFlight is the number of batches awaiting acknowledgement.
func (s *Shipper) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Run keeps a stream to a router open and ships batches until ctx is done.
func (s *Shipper) Run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		addrs := s.routers.Addrs()
		if len(addrs) == 0 {
			s.opt.Log.Warn("no router known; waiting", "input", s.key)
			select {
			case <-s.routers.Changed():
			case <-ctx.Done():
			}
			continue
		}
		order := routers.Order(s.key, addrs)
		addr := order[attempt%len(order)]
		start := time.Now()
		progressed, err := s.stream(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		// A stream that worked for a while is a fresh start: retry quickly and
		// with this input's preferred router first.
		if progressed || time.Since(start) > s.opt.Backoff.Max {
			attempt = 0
		} else {
			attempt++
		}
		s.opt.Metrics.Reconnects.Inc()
		delay := s.opt.Backoff.Delay(attempt)
		s.opt.Log.Warn("router stream ended; reconnecting", "input", s.key, "router", addr, "err", err,
			"in_flight", s.InFlight(), "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

// stream ships on one Ingest stream to addr until it fails; progressed says
// whether any batch was acknowledged on it.
func (s *Shipper) stream(ctx context.Context, addr string) (progressed bool, err error) {
	client, err := s.pool.client(addr)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stream, err := client.Ingest(sctx)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()

	var wg sync.WaitGroup
	var acked atomic.Bool
	wg.Go(func() {
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			if err != nil {
				cancel(err)
				return
			}
			if a := resp.GetAck(); a != nil && s.ack(a) {
				acked.Store(true)
			}
		}
	})
	wg.Go(func() { s.watch(sctx, cancel, gen, addr) })

send:
	for {
		for _, f := range s.unsent(gen) {
			if err := stream.Send(&routingv1.IngestRequest{Batch: f.b.Msg}); err != nil {
				// The stream's status comes from the receiving side; wait a
				// moment for it to have the better error.
				select {
				case <-sctx.Done():
				case <-time.After(time.Second):
					cancel(fmt.Errorf("send: %w", err))
				}
				break send
			}
		}
		select {
		case <-s.kick:
		case <-sctx.Done():
			break send
		}
	}
	cancel(nil)
	wg.Wait()
	return acked.Load(), context.Cause(sctx)
}

// watch ends the stream when its oldest batch waits too long for its ack or
// when its router leaves the list.
func (s *Shipper) watch(ctx context.Context, cancel context.CancelCauseFunc, gen uint64, addr string) {
	tick := time.NewTicker(max(s.opt.AckTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	changed := s.routers.Changed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			changed = s.routers.Changed()
			if !slices.Contains(s.routers.Addrs(), addr) {
				cancel(errRouterGone)
				return
			}
		case now := <-tick.C:
			if s.oldest(gen, now) > s.opt.AckTimeout {
				cancel(errAckTimeout)
				return
			}
		}
	}
}

// unsent marks as sent on stream gen, and returns in sequence order, every
// batch not yet sent on it.
func (s *Shipper) unsent(gen uint64) []*flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*flight
	now := time.Now()
	for _, f := range s.pending {
		if f.gen == gen {
			continue
		}
		f.gen, f.sent = gen, now
		f.sends++
		s.opt.Metrics.Sent.Inc()
		if f.sends > 1 {
			s.opt.Metrics.Resent.Inc()
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *flight) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// oldest is how long the longest-waiting batch sent on stream gen has waited.
func (s *Shipper) oldest(gen uint64, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, f := range s.pending {
		if f.gen == gen {
			d = max(d, now.Sub(f.sent))
		}
	}
	return d
}

// ack completes the batch a acknowledges; it reports false for an ack of a
// batch already acknowledged (a resend's twin) or unknown.
func (s *Shipper) ack(a *routingv1.Ack) bool {
	s.mu.Lock()
	f, ok := s.pending[a.GetSequence()]
	delete(s.pending, a.GetSequence())
	s.mu.Unlock()
	if !ok {
		return false
	}
	<-s.slots
	m := s.opt.Metrics
	m.InFlight.Dec()
	m.Acked.Inc()
	m.AckLatency.Observe(time.Since(f.sent).Seconds())
	if n := int64(lineblock.Count(f.b.Msg)); a.GetAccepted() != n {
		s.opt.Log.Warn("router accepted a different number of lines than sent", "input", s.key,
			"sequence", a.GetSequence(), "sent", n, "accepted", a.GetAccepted())
	}
	f.b.Acked()
	return true
}

// Pool holds one client connection per router, shared by the shippers.
type Pool struct {
	opts  []grpc.DialOption
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewPool dials routers with opts.
func NewPool(opts ...grpc.DialOption) *Pool {
	return &Pool{opts: opts, conns: map[string]*grpc.ClientConn{}}
}

func (p *Pool) client(addr string) (routingv1.RoutingServiceClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cc, ok := p.conns[addr]
	if !ok {
		var err error
		if cc, err = grpc.NewClient(addr, p.opts...); err != nil {
			return nil, err
		}
		p.conns[addr] = cc
	}
	return routingv1.NewRoutingServiceClient(cc), nil
}

// Close closes every connection.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, cc := range p.conns {
		cc.Close()
		delete(p.conns, addr)
	}
}
