package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func (a *app) graphCommand() *cobra.Command {
	var (
		window time.Duration
		out    format
	)
	c := &cobra.Command{
		Use:   "graph",
		Short: "The live service graph as text: services and who calls whom, with rates and errors",
		Long: `Prints the topology service's graph over --window: each service with its
request rate and error ratio, then each edge (caller -> callee) with protocol,
rate, error ratio and p99 latency, busiest first. -o json gives the API's Graph.`,
		Example: `  hindsight graph
  hindsight graph --window 15m -o json | jq '.edges[] | select(.errorRatio > 0.05)'`,
		Args: exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			tc, err := a.topology()
			if err != nil {
				return err
			}
			ctx, cancel := a.call(c.Context())
			defer cancel()
			req := &topologyv1.GetGraphRequest{}
			if window > 0 {
				req.Window = durationpb.New(window)
			}
			g, err := tc.GetGraph(ctx, req)
			if err != nil {
				return err
			}
			switch out {
			case formatJSON:
				return writeJSON(a.out, g)
			case formatNDJSON:
				return usagef("--output ndjson: a graph is one document, use json or table")
			}
			return printGraph(a, g)
		},
	}
	c.Flags().DurationVarP(&window, "window", "w", 0, "aggregate over this window (0: the server's default)")
	bindFormat(c, &out)
	return c
}

func printGraph(a *app, g *topologyv1.Graph) error {
	nodes, edges := g.GetNodes(), g.GetEdges()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].GetService() < nodes[j].GetService() })
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].GetRequestRate() != edges[j].GetRequestRate() {
			return edges[i].GetRequestRate() > edges[j].GetRequestRate()
		}
		return edges[i].GetSource()+edges[i].GetDestination() < edges[j].GetSource()+edges[j].GetDestination()
	})
	fmt.Fprintf(a.out, "%d services, %d edges over %s\n\n", len(nodes), len(edges), short(g.GetWindow().AsDuration()))
	t := newTable(a.out, "SERVICE", "REQ/S", "ERRORS", "CONTAINERS")
	for _, n := range nodes {
		name := n.GetService()
		if n.GetInternet() {
			name += " (internet)"
		}
		t.row(name, fmt.Sprintf("%.2f", n.GetRequestRate()), pct(n.GetErrorRatio()), fmt.Sprint(len(n.GetContainers())))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.out)
	t = newTable(a.out, "EDGE", "PROTOCOL", "REQ/S", "ERRORS", "P50", "P99", "")
	for _, e := range edges {
		stale := ""
		if e.GetStale() {
			stale = "stale"
		}
		t.row(e.GetSource()+" -> "+e.GetDestination(), strings.ToLower(strings.TrimPrefix(e.GetProtocol().String(), "PROTOCOL_")),
			fmt.Sprintf("%.2f", e.GetRequestRate()), pct(e.GetErrorRatio()),
			short(e.GetLatencyP50().AsDuration()), short(e.GetLatencyP99().AsDuration()), stale)
	}
	return t.flush()
}

func pct(r float64) string { return fmt.Sprintf("%.1f%%", 100*r) }
