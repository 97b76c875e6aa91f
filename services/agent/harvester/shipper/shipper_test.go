package shipper

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routers"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

func testMetrics() Metrics {
	return Metrics{
		Sent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sent"}),
		Resent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "resent"}),
		Acked:      prometheus.NewCounter(prometheus.CounterOpts{Name: "acked"}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "reconnects"}),
		InFlight:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight"}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ack_latency"}),
	}
}

type harness struct {
	s      *Shipper
	m      Metrics
	mu     sync.Mutex
	acked  map[string]int // batch dataset (used as a unique name) → acks
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, key string, window int, ackTimeout time.Duration, addrs ...string) (*harness, *routers.List) {
	t.Helper()
	list := routers.NewList(addrs...)
	pool := NewPool(grpc.WithTransportCredentials(insecure.NewCredentials()))
	h := &harness{m: testMetrics(), acked: map[string]int{}, done: make(chan struct{})}
	h.s = New(key, list, pool, Options{
		Window:     window,
		Backoff:    Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		AckTimeout: ackTimeout,
		Metrics:    h.m,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.s.Run(ctx); close(h.done) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		pool.Close()
	})
	return h, list
}

func (h *harness) send(t *testing.T, ctx context.Context, name string) error {
	t.Helper()
	return h.s.Send(ctx, &Batch{
		Msg: &routingv1.Batch{Dataset: name, Lines: []*routingv1.RawLine{{Line: []byte(name)}}},
		Acked: func() {
			h.mu.Lock()
			h.acked[name]++
			h.mu.Unlock()
		},
	})
}

func (h *harness) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		got := len(h.acked)
		for name, c := range h.acked {
			if c != 1 {
				h.mu.Unlock()
				t.Fatalf("batch %s acked %d times", name, c)
			}
		}
		h.mu.Unlock()
		if got >= n {
			if got > n {
				t.Fatalf("%d batches acked, want %d", got, n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d batches acked", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShipsAndAcks(t *testing.T) {
	r := routertest.Start(t)
	h, _ := start(t, "in", 4, time.Minute, r.Addr())
	for i := range 50 {
		if err := h.send(t, context.Background(), fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitAcked(t, 50)
	if got := testutil.ToFloat64(h.m.Acked); got != 50 {
		t.Fatalf("acked metric %v", got)
	}
	if h.s.InFlight() != 0 || testutil.ToFloat64(h.m.InFlight) != 0 {
		t.Fatal("batches left in flight")
	}
}

func TestWindowBlocksSendWhileRouterStalls(t *testing.T) {
	r := routertest.Start(t)
	r.Stall()
	h, _ := start(t, "in", 3, time.Minute, r.Addr())
	for i := range 3 {
		if err := h.send(t, context.Background(), fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	r.WaitReceivedLines(t, 3, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.send(t, ctx, "b3"); err == nil {
		t.Fatal("Send did not block with a full window")
	}
	if h.s.InFlight() != 3 || testutil.ToFloat64(h.m.InFlight) != 3 {
		t.Fatalf("in flight %d", h.s.InFlight())
	}
	r.Resume()
	if err := h.send(t, context.Background(), "b4"); err != nil {
		t.Fatal(err)
	}
	h.waitAcked(t, 4)
}

func TestDroppedStreamResendsUnacked(t *testing.T) {
	r := routertest.Start(t)
	r.DropAfter(5) // the 5th batch breaks its stream unacknowledged
	h, _ := start(t, "in", 8, time.Minute, r.Addr())
	for i := range 20 {
		if err := h.send(t, context.Background(), fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitAcked(t, 20)
	if r.Streams() < 2 || testutil.ToFloat64(h.m.Resent) == 0 {
		t.Fatalf("streams %d, resent %v: no reconnection seen", r.Streams(), testutil.ToFloat64(h.m.Resent))
	}
}

func TestRefusingRouterIsRetried(t *testing.T) {
	r := routertest.Start(t)
	r.Refuse(status.Error(codes.Unavailable, "kafka down"))
	h, _ := start(t, "in", 2, time.Minute, r.Addr())
	if err := h.send(t, context.Background(), "b0"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if testutil.ToFloat64(h.m.Reconnects) < 2 {
		t.Fatalf("reconnects %v", testutil.ToFloat64(h.m.Reconnects))
	}
	r.Refuse(nil)
	h.waitAcked(t, 1)
}

func TestFailsOverToAnotherRouter(t *testing.T) {
	a, b := routertest.Start(t), routertest.Start(t)
	byAddr := map[string]*routertest.Router{a.Addr(): a, b.Addr(): b}
	order := routers.Order("in", []string{a.Addr(), b.Addr()})
	first, second := byAddr[order[0]], byAddr[order[1]]
	h, _ := start(t, "in", 4, time.Minute, a.Addr(), b.Addr())
	h.send(t, context.Background(), "b0")
	h.waitAcked(t, 1)
	if len(first.Acked()) != 1 {
		t.Fatal("the input did not use its preferred router")
	}
	first.Stall()
	h.send(t, context.Background(), "b1")
	first.WaitReceivedLines(t, 2, 5*time.Second)
	first.Stop()
	h.send(t, context.Background(), "b2")
	h.waitAcked(t, 3)
	if len(second.Acked()) != 2 {
		t.Fatalf("second router acked %d batches, want the 2 the first one lost", len(second.Acked()))
	}
}

func TestRouterLeavingTheListMovesTheStream(t *testing.T) {
	a, b := routertest.Start(t), routertest.Start(t)
	h, list := start(t, "in", 4, time.Minute, a.Addr())
	a.Stall()
	h.send(t, context.Background(), "b0")
	a.WaitReceivedLines(t, 1, 5*time.Second)
	list.Set([]string{b.Addr()})
	h.waitAcked(t, 1)
	if len(b.Acked()) != 1 {
		t.Fatal("batch not resent to the new router")
	}
}

func TestAckTimeoutReplacesAStuckStream(t *testing.T) {
	r := routertest.Start(t)
	r.Stall()
	h, _ := start(t, "in", 2, 100*time.Millisecond, r.Addr())
	h.send(t, context.Background(), "b0")
	deadline := time.Now().Add(5 * time.Second)
	for r.Streams() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("stuck stream not replaced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Resume()
	h.waitAcked(t, 1)
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	seen := map[time.Duration]bool{}
	for attempt := range 100 {
		d := b.Delay(attempt)
		want := min(100*time.Millisecond<<min(attempt, 30), 5*time.Second)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, want/2, want)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatal("no jitter")
	}
}
