// Package graph aggregates flows into the live service graph: per edge
// (source service, destination service, protocol) a ring of per-second
// buckets holding request counts by status class and a latency histogram, from
// which any window up to the ring's length gives rates, error ratios and
// latency percentiles. Edges without traffic are marked stale, then fade out.
package graph

import (
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Internet is the node standing for every source outside the known services.
const Internet = "INTERNET"

// Defaults of Options.
const (
	DefaultMaxWindow  = 15 * time.Minute
	DefaultLag        = time.Second
	DefaultStaleAfter = 5 * time.Second
	DefaultFadeAfter  = 30 * time.Second
	DefaultMaxEdges   = 10000
)

// Options tune an Aggregator; zero values take the defaults.
type Options struct {
	// MaxWindow is the longest window a graph can be asked for (the ring's length).
	MaxWindow time.Duration
	// Lag is how far behind now a window ends: flows of the last second may
	// still be on their way from the agents, and counting a second before all
	// of it has arrived would report a rate too low.
	Lag time.Duration
	// StaleAfter marks an edge stale when it had no traffic for that long.
	StaleAfter time.Duration
	// FadeAfter drops an edge (and nodes left without edges) after that long
	// without traffic.
	FadeAfter time.Duration
	// MaxEdges bounds memory: flows of further new edges are dropped.
	MaxEdges int
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

type edgeKey struct {
	source, destination string
	protocol            topologyv1.Protocol
}

type edge struct {
	firstSeen, lastSeen time.Time
	series              series
}

// node is what is known of a service besides its edges: its containers and
// addresses, each with when it was last seen in a flow.
type node struct {
	containers map[string]time.Time
	addresses  map[string]time.Time
}

// Aggregator is safe for concurrent use.
type Aggregator struct {
	opt Options

	mu    sync.Mutex
	edges map[edgeKey]*edge
	nodes map[string]*node
}

// New returns an empty aggregator.
func New(opt Options) *Aggregator {
	if opt.MaxWindow <= 0 {
		opt.MaxWindow = DefaultMaxWindow
	}
	if opt.Lag <= 0 {
		opt.Lag = DefaultLag
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = DefaultStaleAfter
	}
	if opt.FadeAfter <= 0 {
		opt.FadeAfter = DefaultFadeAfter
	}
	if opt.MaxEdges <= 0 {
		opt.MaxEdges = DefaultMaxEdges
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Aggregator{opt: opt, edges: map[edgeKey]*edge{}, nodes: map[string]*node{}}
}

// MaxWindow is the longest window Graph accepts.
func (a *Aggregator) MaxWindow() time.Duration { return a.opt.MaxWindow }

// Outcome of Add for one flow.
type Outcome int

const (
	Accepted Outcome = iota
	// TooOld: the flow's time is older than the longest window.
	TooOld
	// TooManyEdges: the flow would add an edge past MaxEdges.
	TooManyEdges
)

// Add records a valid flow (see the service's validation): a missing source
// service is the Internet, a zero count is one request, a zero time is now.
func (a *Aggregator) Add(f *topologyv1.Flow) Outcome {
	now := a.opt.Now()
	t := now
	if f.GetTime() != nil {
		t = f.GetTime().AsTime()
	}
	switch {
	case t.After(now):
		t = now // clock skew: count it now rather than in a future second
	case now.Sub(t) >= a.opt.MaxWindow-time.Second:
		return TooOld
	}
	src := f.GetSource().GetService()
	if src == "" {
		src = Internet
	}
	dst := f.GetDestination().GetService()
	n := f.GetCount()
	if n == 0 {
		n = 1
	}
	key := edgeKey{src, dst, f.GetProtocol()}

	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.edges[key]
	if e == nil {
		if len(a.edges) >= a.opt.MaxEdges {
			return TooManyEdges
		}
		e = &edge{firstSeen: t, series: newSeries(int(a.opt.MaxWindow / time.Second))}
		a.edges[key] = e
	}
	if t.Before(e.firstSeen) {
		e.firstSeen = t
	}
	if t.After(e.lastSeen) {
		e.lastSeen = t
	}
	e.series.add(t.Unix(), f.GetStatus(), n, f.GetLatency().AsDuration())
	if src != Internet {
		a.seen(src, f.GetSource(), t)
	}
	a.seen(dst, f.GetDestination(), t)
	return Accepted
}

func (a *Aggregator) seen(service string, ep *topologyv1.Endpoint, t time.Time) {
	nd := a.nodes[service]
	if nd == nil {
		nd = &node{containers: map[string]time.Time{}, addresses: map[string]time.Time{}}
		a.nodes[service] = nd
	}
	if c := ep.GetContainer(); c != "" && t.After(nd.containers[c]) {
		nd.containers[c] = t
	}
	if ip := ep.GetAddress(); ip != "" && t.After(nd.addresses[ip]) {
		nd.addresses[ip] = t
	}
}

// Graph returns the graph over the window ending Lag before now, and forgets
// what has faded. Rates are per second over the part of the window the edge
// existed in, so a new edge shows its true rate at once instead of ramping up
// over the window.
func (a *Aggregator) Graph(window time.Duration) *topologyv1.Graph {
	now := a.opt.Now()
	end := now.Add(-a.opt.Lag).Truncate(time.Second)
	start := end.Add(-window)
	g := &topologyv1.Graph{Window: durationpb.New(window), Time: timestamppb.New(now)}

	a.mu.Lock()
	defer a.mu.Unlock()
	type in struct{ requests, errors float64 }
	incoming := map[string]*in{}
	for key, e := range a.edges {
		if now.Sub(e.lastSeen) > a.opt.FadeAfter {
			delete(a.edges, key)
			continue
		}
		from := start
		if e.firstSeen.After(from) {
			from = e.firstSeen
		}
		var t totals
		e.series.sum(from.Unix(), end.Unix(), &t)
		out := &topologyv1.Edge{
			Source:      key.source,
			Destination: key.destination,
			Protocol:    key.protocol,
			LatencyP50:  durationpb.New(t.hist.quantile(0.50)),
			LatencyP99:  durationpb.New(t.hist.quantile(0.99)),
			LastSeen:    timestamppb.New(e.lastSeen),
			Stale:       now.Sub(e.lastSeen) > a.opt.StaleAfter,
		}
		total := t.count[topologyv1.StatusClass_STATUS_CLASS_OK] +
			t.count[topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR] +
			t.count[topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR]
		failed := t.count[topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR] + t.count[topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR]
		if span := end.Sub(from).Seconds(); span > 0 {
			out.RequestRate = float64(total) / span
			out.ServerErrorRate = float64(t.count[topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR]) / span
			out.ClientErrorRate = float64(t.count[topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR]) / span
		}
		if total > 0 {
			out.ErrorRatio = float64(failed) / float64(total)
		}
		g.Edges = append(g.Edges, out)
		for _, name := range []string{key.source, key.destination} {
			if incoming[name] == nil {
				incoming[name] = &in{}
			}
		}
		incoming[key.destination].requests += out.RequestRate
		incoming[key.destination].errors += out.RequestRate * out.ErrorRatio
	}
	for name := range a.nodes {
		if _, ok := incoming[name]; !ok {
			delete(a.nodes, name)
		}
	}
	for name, r := range incoming {
		n := &topologyv1.Node{Service: name, Internet: name == Internet, RequestRate: r.requests}
		if r.requests > 0 {
			n.ErrorRatio = r.errors / r.requests
		}
		if nd := a.nodes[name]; nd != nil {
			n.Containers = a.recent(nd.containers, now)
			n.Addresses = a.recent(nd.addresses, now)
		}
		g.Nodes = append(g.Nodes, n)
	}
	sort.Slice(g.Nodes, func(i, j int) bool { return g.Nodes[i].Service < g.Nodes[j].Service })
	sort.Slice(g.Edges, func(i, j int) bool {
		x, y := g.Edges[i], g.Edges[j]
		if x.Source != y.Source {
			return x.Source < y.Source
		}
		if x.Destination != y.Destination {
			return x.Destination < y.Destination
		}
		return x.Protocol < y.Protocol
	})
	return g
}

// recent returns the sorted names seen within FadeAfter, forgetting the others.
func (a *Aggregator) recent(seen map[string]time.Time, now time.Time) []string {
	var out []string
	for name, t := range seen {
		if now.Sub(t) > a.opt.FadeAfter {
			delete(seen, name)
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Resolve names the service an address was last seen at in a flow (an agent
// reports its containers' addresses), or "" for an address of no known
// service. It is an accesslog.Resolver; the container is not known from an
// address alone.
func (a *Aggregator) Resolve(ip string) (service, container string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for name, nd := range a.nodes {
		if t, ok := nd.addresses[ip]; ok && t.After(last) {
			service, last = name, t
		}
	}
	return service, ""
}

// Size is how many edges and nodes are held (faded ones go at the next Graph).
func (a *Aggregator) Size() (edges, nodes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.edges), len(a.nodes)
}
