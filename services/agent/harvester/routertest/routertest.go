// Package routertest is an in-process RoutingService for tests of the agent:
// it records every batch it receives and acknowledges each one, or stalls,
// delays, refuses, drops streams or goes away on demand, the way a router
// does when Kafka is slow or down or the router restarts.
package routertest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Router is the fake router. Its methods are safe for concurrent use.
type Router struct {
	routingv1.UnimplementedRoutingServiceServer
	t    testing.TB
	addr string

	mu         sync.Mutex
	srv        *grpc.Server
	received   []*routingv1.Batch
	acked      []*routingv1.Batch
	discard    bool
	nReceived  int // lines, counted even when discarding
	nAcked     int
	nBatches   int // received
	streams    int
	open       map[*stream]struct{}
	stalled    bool
	held       []heldBatch
	refuse     error
	ackDelay   time.Duration
	dropAfter  int
	stallAfter int
	changed    chan struct{}
}

type stream struct {
	acks   chan *routingv1.Batch
	cancel context.CancelCauseFunc
}

type heldBatch struct {
	s *stream
	b *routingv1.Batch
}

// Start serves a fake router on a loopback port until the test ends.
func Start(t testing.TB) *Router {
	t.Helper()
	r := &Router{t: t, open: map[*stream]struct{}{}, changed: make(chan struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = lis.Addr().String()
	r.serve(lis)
	t.Cleanup(r.Stop)
	return r
}

func (r *Router) serve(lis net.Listener) {
	srv := grpc.NewServer()
	routingv1.RegisterRoutingServiceServer(srv, r)
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(lis)
}

// Addr is the router's "host:port"; it stays the same across Stop and Restart.
func (r *Router) Addr() string { return r.addr }

// Stop shuts the router down as a crash would: open streams break, unacked
// batches stay unacked, and new connections are refused.
func (r *Router) Stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart serves again on the same address after Stop.
func (r *Router) Restart() {
	r.t.Helper()
	var lis net.Listener
	var err error
	// The port was just released; give the kernel a moment if it is slow to.
	for range 50 {
		if lis, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("restart router on %s: %v", r.addr, err)
	}
	r.serve(lis)
}

// Stall holds every batch received from now on without acknowledging it, as
// a router does while Kafka is down.
func (r *Router) Stall() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stalled = true
}

// Resume acknowledges the held batches (on the streams that are still open)
// and every batch after them.
func (r *Router) Resume() {
	r.mu.Lock()
	held := r.held
	r.held, r.stalled = nil, false
	r.mu.Unlock()
	for _, h := range held {
		r.ack(h.s, h.b)
	}
}

// AckHeldWhere acknowledges the held batches for which ack is true, in the
// order they came, and keeps holding the others: acknowledgements out of
// order, as a router with several Kafka partitions gives them.
func (r *Router) AckHeldWhere(ack func(*routingv1.Batch) bool) {
	r.mu.Lock()
	var now, later []heldBatch
	for _, h := range r.held {
		if ack(h.b) {
			now = append(now, h)
		} else {
			later = append(later, h)
		}
	}
	r.held = later
	r.mu.Unlock()
	for _, h := range now {
		r.ack(h.s, h.b)
	}
}

// Refuse makes new streams fail at once with err (e.g. a status with code
// Unavailable); nil accepts them again.
func (r *Router) Refuse(err error) { r.locked(func() { r.refuse = err }) }

// SetAckDelay delays every acknowledgement by d, as Kafka's commit latency does.
func (r *Router) SetAckDelay(d time.Duration) { r.locked(func() { r.ackDelay = d }) }

// StallAfter stalls (see Stall) from the batch after the n-th received overall.
func (r *Router) StallAfter(n int) { r.locked(func() { r.stallAfter = n }) }

// Discard stops recording batches (for benchmarks): only the line counts
// that WaitAckedLines and WaitReceivedLines use are kept.
func (r *Router) Discard() { r.locked(func() { r.discard = true }) }

// DropAfter breaks the stream that receives the n-th batch overall, without
// acknowledging it; 0 disables.
func (r *Router) DropAfter(n int) { r.locked(func() { r.dropAfter = n }) }

// DropStreams breaks every open stream, as a router restart does.
func (r *Router) DropStreams() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.open {
		s.cancel(errors.New("dropped by the test"))
	}
}

// locked runs f with the router's lock held: the settings a test changes
// are read by the streams.
func (r *Router) locked(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// Streams is how many Ingest streams have been opened so far.
func (r *Router) Streams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams
}

// Received returns every batch received, resends included, in arrival order.
func (r *Router) Received() []*routingv1.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*routingv1.Batch(nil), r.received...)
}

// Acked returns every batch whose acknowledgement was sent, in that order.
func (r *Router) Acked() []*routingv1.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*routingv1.Batch(nil), r.acked...)
}

// AckedLines returns the lines of the acknowledged batches, in ack order.
func (r *Router) AckedLines() []*routingv1.RawLine {
	var out []*routingv1.RawLine
	for _, b := range r.Acked() {
		out = append(out, lineblock.Lines(b)...)
	}
	return out
}

// WaitAckedLines waits until at least n lines have been acknowledged.
func (r *Router) WaitAckedLines(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	r.wait(t, timeout, "acked", n, func() int { return r.nAcked })
}

// WaitReceivedLines waits until at least n lines have been received.
func (r *Router) WaitReceivedLines(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	r.wait(t, timeout, "received", n, func() int { return r.nReceived })
}

// ReceivedLineCount and AckedLineCount count lines, resends included.
func (r *Router) ReceivedLineCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nReceived
}

func (r *Router) AckedLineCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nAcked
}

func (r *Router) wait(t testing.TB, timeout time.Duration, what string, want int, have func() int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		n, ch := have(), r.changed
		r.mu.Unlock()
		if n >= want {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("router: %d lines %s after %v, want %d", n, what, timeout, want)
		}
	}
}

// notify wakes waiters; r.mu must be held.
func (r *Router) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Router) ack(s *stream, b *routingv1.Batch) {
	r.mu.Lock()
	d := r.ackDelay
	r.mu.Unlock()
	push := func() {
		select {
		case s.acks <- b:
		default: // the stream is gone or hopelessly behind: no ack, the agent resends
		}
	}
	if d > 0 {
		time.AfterFunc(d, push)
		return
	}
	push()
}

// Ingest records batches and answers each with an Ack after the (fake)
// commit, in arrival order.
func (r *Router) Ingest(srv grpc.BidiStreamingServer[routingv1.IngestRequest, routingv1.IngestResponse]) error {
	ctx, cancel := context.WithCancelCause(srv.Context())
	defer cancel(nil)
	s := &stream{acks: make(chan *routingv1.Batch, 4096), cancel: cancel}
	r.mu.Lock()
	if err := r.refuse; err != nil {
		r.mu.Unlock()
		return err
	}
	r.streams++
	r.open[s] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.open, s)
		r.mu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() {
		for {
			req, err := srv.Recv()
			if err != nil {
				errc <- err
				return
			}
			b := req.GetBatch()
			r.mu.Lock()
			r.nReceived += lineblock.Count(b)
			r.nBatches++
			if !r.discard {
				r.received = append(r.received, b)
			}
			drop := r.dropAfter > 0 && r.nBatches == r.dropAfter
			if r.stallAfter > 0 && r.nBatches > r.stallAfter {
				r.stalled = true
			}
			stalled := r.stalled
			if stalled && !drop {
				r.held = append(r.held, heldBatch{s, b})
			}
			r.notify()
			r.mu.Unlock()
			if drop {
				cancel(errors.New("dropped after a batch"))
				return
			}
			if !stalled {
				r.ack(s, b)
			}
		}
	}()
	for {
		select {
		case b := <-s.acks:
			err := srv.Send(&routingv1.IngestResponse{Ack: &routingv1.Ack{Sequence: b.GetSequence(), Accepted: int64(lineblock.Count(b))}})
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.nAcked += lineblock.Count(b)
			if !r.discard {
				r.acked = append(r.acked, b)
			}
			r.notify()
			r.mu.Unlock()
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-ctx.Done():
			return status.Error(codes.Unavailable, context.Cause(ctx).Error())
		}
	}
}
