package graph

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func flow(src, dst string, status topologyv1.StatusClass, n int64, latency time.Duration, t time.Time) *topologyv1.Flow {
	return &topologyv1.Flow{
		Source:      &topologyv1.Endpoint{Service: src, Container: src + "-1", Address: "10.0.0.1"},
		Destination: &topologyv1.Endpoint{Service: dst, Container: dst + "-1", Address: "10.0.0.2", Port: 80},
		Protocol:    topologyv1.Protocol_PROTOCOL_HTTP,
		Status:      status,
		Count:       n,
		Latency:     durationpb.New(latency * time.Duration(n)),
		Time:        timestamppb.New(t),
	}
}

const (
	ok  = topologyv1.StatusClass_STATUS_CLASS_OK
	c4x = topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR
	s5x = topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// A steady 100 req/s edge with 5% server errors and 1% client errors reads as
// such over the window, and already in the first seconds of its life.
func TestRatesAndErrorRatio(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 250e6)}
	a := New(Options{Now: c.now})
	start := c.t
	for s := 0; s < 20; s++ {
		sec := start.Add(time.Duration(s) * time.Second)
		// Four flushes per second, as the agent does.
		for q := 0; q < 4; q++ {
			at := sec.Add(time.Duration(q) * 250 * time.Millisecond)
			c.t = at
			a.Add(flow("", "frontend", ok, 94/4+btoi(q < 94%4), 2*time.Millisecond, at))
			a.Add(flow("", "frontend", s5x, 1+btoi(q == 0), 40*time.Millisecond, at))
			if q == 0 {
				a.Add(flow("", "frontend", c4x, 1, time.Millisecond, at))
			}
		}
		if s == 3 {
			c.t = sec.Add(time.Second)
			g := a.Graph(10 * time.Second)
			if len(g.Edges) != 1 || !near(g.Edges[0].RequestRate, 100, 3) {
				t.Fatalf("after 4s: %v", g.Edges)
			}
		}
	}
	c.t = start.Add(20 * time.Second)
	g := a.Graph(10 * time.Second)
	if len(g.Edges) != 1 {
		t.Fatalf("edges = %v", g.Edges)
	}
	e := g.Edges[0]
	if e.Source != Internet || e.Destination != "frontend" || e.Stale {
		t.Fatalf("edge = %v", e)
	}
	if !near(e.RequestRate, 100, 0.5) || !near(e.ErrorRatio, 0.06, 0.002) || !near(e.ServerErrorRate, 5, 0.1) || !near(e.ClientErrorRate, 1, 0.1) {
		t.Fatalf("rate %.2f ratio %.4f 5xx %.2f 4xx %.2f", e.RequestRate, e.ErrorRatio, e.ServerErrorRate, e.ClientErrorRate)
	}
	if p50 := e.LatencyP50.AsDuration(); p50 < 1800*time.Microsecond || p50 > 2200*time.Microsecond {
		t.Fatalf("p50 = %v, want ≈2ms", p50)
	}
	if p99 := e.LatencyP99.AsDuration(); p99 < 36*time.Millisecond || p99 > 44*time.Millisecond {
		t.Fatalf("p99 = %v, want ≈40ms", p99)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Service != Internet || !g.Nodes[0].Internet || g.Nodes[1].Service != "frontend" {
		t.Fatalf("nodes = %v", g.Nodes)
	}
	fe := g.Nodes[1]
	if !near(fe.RequestRate, 100, 0.5) || !near(fe.ErrorRatio, 0.06, 0.002) || len(fe.Containers) != 1 || fe.Containers[0] != "frontend-1" {
		t.Fatalf("frontend node = %v", fe)
	}
	if len(g.Nodes[0].Containers) != 0 {
		t.Fatalf("the Internet has no containers: %v", g.Nodes[0])
	}
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// An edge without traffic is marked stale after StaleAfter, its rate decays as
// the window slides past its traffic, and it is gone after FadeAfter, with the
// nodes only it held.
func TestStaleThenFade(t *testing.T) {
	c := &clock{t: time.Unix(2_000_000, 0)}
	a := New(Options{Now: c.now, StaleAfter: 3 * time.Second, FadeAfter: 10 * time.Second})
	for s := 0; s < 10; s++ {
		a.Add(flow("frontend", "api", ok, 50, time.Millisecond, c.t))
		a.Add(flow("api", "redis", ok, 50, time.Millisecond, c.t))
		c.advance(time.Second)
	}
	// api dies; frontend→api gets one more (failed) second of traffic.
	a.Add(flow("frontend", "api", s5x, 20, time.Millisecond, c.t))
	c.advance(2 * time.Second)
	g := a.Graph(5 * time.Second)
	for _, e := range g.Edges {
		if e.Stale {
			t.Fatalf("stale too early: %v", e)
		}
	}
	c.advance(2 * time.Second)
	g = a.Graph(5 * time.Second)
	if len(g.Edges) != 2 {
		t.Fatalf("edges = %v", g.Edges)
	}
	for _, e := range g.Edges {
		if !e.Stale {
			t.Fatalf("not stale after 4s without traffic: %v", e)
		}
	}
	c.advance(8 * time.Second)
	if g = a.Graph(5 * time.Second); len(g.Edges) != 0 || len(g.Nodes) != 0 {
		t.Fatalf("not faded: %v", g)
	}
	if len(a.edges) != 0 || len(a.nodes) != 0 {
		t.Fatalf("faded state kept: %d edges, %d nodes", len(a.edges), len(a.nodes))
	}
}

func TestTooOldAndTooMany(t *testing.T) {
	c := &clock{t: time.Unix(3_000_000, 0)}
	a := New(Options{Now: c.now, MaxWindow: time.Minute, MaxEdges: 1})
	if got := a.Add(flow("a", "b", ok, 1, time.Millisecond, c.t.Add(-2*time.Minute))); got != TooOld {
		t.Fatalf("old flow: %v", got)
	}
	if got := a.Add(flow("a", "b", ok, 1, time.Millisecond, c.t.Add(time.Hour))); got != Accepted {
		t.Fatalf("future flow: %v", got)
	}
	if got := a.Add(flow("a", "c", ok, 1, time.Millisecond, c.t)); got != TooManyEdges {
		t.Fatalf("second edge: %v", got)
	}
}

func TestQuantileError(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 37 * time.Microsecond, 3 * time.Millisecond, 1234 * time.Millisecond, 2 * time.Minute} {
		var h denseHist
		var s sparseHist
		s.add(bin(d), 1)
		h.merge(s)
		got := h.quantile(0.5)
		if r := float64(got) / float64(d); r < 0.9 || r > 1.1 {
			t.Errorf("%v reads as %v", d, got)
		}
	}
}
