// Package vizceral turns the service graph into Vizceral's data format
// (github.com/Netflix/vizceral/wiki/How-to-Use): a global node holding the
// Internet and one region; the region holds the services and the connections
// between them with their request rates split into normal (succeeded), warning
// (client errors) and danger (server errors), which is what Vizceral's
// particles are coloured by. Nodes and connections get a class from their
// error ratio and notices saying what is wrong.
package vizceral

import (
	"fmt"
	"sort"
	"strings"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
)

// Classes and notice severities Vizceral knows.
const (
	Normal  = "normal"
	Warning = "warning"
	Danger  = "danger"

	severityWarning = 1
	severityError   = 2
)

// Options say where the thresholds are; zero values take the defaults.
type Options struct {
	// Region names the one region every service is in (default "local").
	Region string
	// WarningRatio and DangerRatio are the error ratios from which a node or
	// connection is drawn as warning or danger (defaults 1% and 10%).
	WarningRatio float64
	DangerRatio  float64
}

func (o *Options) defaults() {
	if o.Region == "" {
		o.Region = "local"
	}
	if o.WarningRatio <= 0 {
		o.WarningRatio = 0.01
	}
	if o.DangerRatio <= 0 {
		o.DangerRatio = 0.10
	}
}

func (o *Options) class(errorRatio float64) string {
	switch {
	case errorRatio >= o.DangerRatio:
		return Danger
	case errorRatio >= o.WarningRatio:
		return Warning
	}
	return Normal
}

// FromGraph converts g.
func FromGraph(g *topologyv1.Graph, opt Options) *topologyv1.VizceralNode {
	opt.defaults()
	now := g.GetTime().AsTime()
	updated := now.UnixMilli()
	region := &topologyv1.VizceralNode{
		Renderer: "region",
		Name:     opt.Region,
		Class:    Normal,
		Updated:  updated,
	}

	// One connection per ordered pair of services, whatever the protocols.
	type pair struct{ source, target string }
	conns := map[pair]*topologyv1.VizceralConnection{}
	stale := map[pair]time.Duration{} // all of the pair's edges are stale: for how long
	fresh := map[string]bool{}        // the node receives some traffic that is not stale
	var order []pair
	for _, e := range g.GetEdges() {
		p := pair{e.GetSource(), e.GetDestination()}
		c := conns[p]
		if c == nil {
			c = &topologyv1.VizceralConnection{Source: p.source, Target: p.target, Metrics: &topologyv1.VizceralMetrics{}}
			conns[p] = c
			order = append(order, p)
			stale[p] = -1
		}
		c.Metrics.Normal += e.GetRequestRate() - e.GetServerErrorRate() - e.GetClientErrorRate()
		c.Metrics.Warning += e.GetClientErrorRate()
		c.Metrics.Danger += e.GetServerErrorRate()
		if e.GetStale() {
			if idle := now.Sub(e.GetLastSeen().AsTime()); stale[p] != 0 && (stale[p] < 0 || idle < stale[p]) {
				stale[p] = idle
			}
		} else {
			stale[p] = 0
			fresh[p.target] = true
		}
	}

	var maxVolume float64
	var internet topologyv1.VizceralMetrics // everything entering the region
	for _, p := range order {
		c := conns[p]
		m := c.Metrics
		total := m.Normal + m.Warning + m.Danger
		maxVolume = max(maxVolume, total)
		ratio := 0.0
		if total > 0 {
			ratio = (m.Warning + m.Danger) / total
		}
		c.Class = opt.class(ratio)
		if c.Class != Normal {
			c.Notices = append(c.Notices, failingNotice(ratio, c.Class))
		}
		if idle := stale[p]; idle > 0 {
			// Traffic that stops is how an outage of a dependency looks from
			// the wire: draw it as danger while it fades.
			c.Class = Danger
			c.Notices = append(c.Notices, &topologyv1.VizceralNotice{
				Title:    fmt.Sprintf("no traffic for %s", idle.Round(time.Second)),
				Severity: severityError,
			})
		}
		if p.source == graph.Internet {
			internet.Normal += m.Normal
			internet.Warning += m.Warning
			internet.Danger += m.Danger
		}
		region.Connections = append(region.Connections, c)
	}

	for _, n := range g.GetNodes() {
		vn := &topologyv1.VizceralNode{
			Renderer:    "focusedChild",
			Name:        n.GetService(),
			DisplayName: n.GetService(),
			Class:       Normal,
			Updated:     updated,
			Metadata: map[string]string{
				"requestRate": fmt.Sprintf("%.2f", n.GetRequestRate()),
				"errorRatio":  fmt.Sprintf("%.4f", n.GetErrorRatio()),
			},
		}
		if len(n.GetContainers()) > 0 {
			vn.Metadata["containers"] = strings.Join(n.GetContainers(), ",")
		}
		if len(n.GetAddresses()) > 0 {
			vn.Metadata["addresses"] = strings.Join(n.GetAddresses(), ",")
		}
		if n.GetRequestRate() > 0 {
			vn.Class = opt.class(n.GetErrorRatio())
			if vn.Class != Normal {
				vn.Notices = append(vn.Notices, failingNotice(n.GetErrorRatio(), vn.Class))
			}
		}
		if receives(g, n.GetService()) && !fresh[n.GetService()] {
			vn.Class = Danger
			vn.Notices = append(vn.Notices, &topologyv1.VizceralNotice{Title: "no traffic received", Severity: severityError})
		}
		region.Nodes = append(region.Nodes, vn)
		region.Class = worse(region.Class, vn.Class)
	}
	region.MaxVolume = maxVolume

	global := &topologyv1.VizceralNode{
		Renderer:  "global",
		Name:      "edge",
		Class:     region.Class,
		MaxVolume: maxVolume,
		Updated:   updated,
		Nodes: []*topologyv1.VizceralNode{
			{Renderer: "region", Name: graph.Internet, Class: Normal, Updated: updated},
			region,
		},
	}
	if internet.Normal+internet.Warning+internet.Danger > 0 {
		global.Connections = []*topologyv1.VizceralConnection{{Source: graph.Internet, Target: opt.Region, Metrics: &internet, Class: region.Class}}
	}
	sort.SliceStable(region.Connections, func(i, j int) bool {
		a, b := region.Connections[i], region.Connections[j]
		return a.Source < b.Source || a.Source == b.Source && a.Target < b.Target
	})
	return global
}

func failingNotice(ratio float64, class string) *topologyv1.VizceralNotice {
	sev := int32(severityWarning)
	if class == Danger {
		sev = severityError
	}
	return &topologyv1.VizceralNotice{Title: fmt.Sprintf("%.1f%% of requests failing", 100*ratio), Severity: sev}
}

// receives reports whether some edge of g ends at service.
func receives(g *topologyv1.Graph, service string) bool {
	for _, e := range g.GetEdges() {
		if e.GetDestination() == service {
			return true
		}
	}
	return false
}

func worse(a, b string) string {
	rank := map[string]int{Normal: 0, Warning: 1, Danger: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
