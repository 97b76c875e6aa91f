package vizceral

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func TestFromGraph(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := &topologyv1.Graph{
		Time: timestamppb.New(now),
		Nodes: []*topologyv1.Node{
			{Service: "INTERNET", Internet: true},
			{Service: "api", RequestRate: 50, ErrorRatio: 0.2, Containers: []string{"api-1", "api-2"}, Addresses: []string{"10.0.0.3"}},
			{Service: "frontend", RequestRate: 100, ErrorRatio: 0.05},
			{Service: "redis", RequestRate: 10},
		},
		Edges: []*topologyv1.Edge{
			{Source: "INTERNET", Destination: "frontend", Protocol: topologyv1.Protocol_PROTOCOL_HTTP, RequestRate: 100, ErrorRatio: 0.05, ServerErrorRate: 4, ClientErrorRate: 1, LastSeen: timestamppb.New(now)},
			{Source: "api", Destination: "redis", Protocol: topologyv1.Protocol_PROTOCOL_REDIS, RequestRate: 10, LastSeen: timestamppb.New(now.Add(-7 * time.Second)), Stale: true},
			{Source: "frontend", Destination: "api", Protocol: topologyv1.Protocol_PROTOCOL_HTTP, RequestRate: 50, ErrorRatio: 0.2, ServerErrorRate: 10, LastSeen: timestamppb.New(now)},
		},
	}
	v := FromGraph(g, Options{Region: "demo"})
	if v.Renderer != "global" || len(v.Nodes) != 2 || v.Nodes[0].Name != "INTERNET" || v.Nodes[1].Name != "demo" {
		t.Fatalf("global = %v", v)
	}
	if len(v.Connections) != 1 || v.Connections[0].Metrics.Normal != 95 || v.Connections[0].Metrics.Danger != 4 || v.Connections[0].Metrics.Warning != 1 {
		t.Fatalf("global connections = %v", v.Connections)
	}
	r := v.Nodes[1]
	if r.Renderer != "region" || r.MaxVolume != 100 || r.Class != Danger || r.Updated != now.UnixMilli() {
		t.Fatalf("region = %v", r)
	}
	byName := map[string]*topologyv1.VizceralNode{}
	for _, n := range r.Nodes {
		byName[n.Name] = n
	}
	if c := byName["frontend"].Class; c != Warning {
		t.Fatalf("frontend class = %s", c)
	}
	api := byName["api"]
	if api.Class != Danger || len(api.Notices) != 1 || api.Notices[0].Severity != 2 || api.Metadata["containers"] != "api-1,api-2" || api.Metadata["addresses"] != "10.0.0.3" {
		t.Fatalf("api = %v", api)
	}
	if redis := byName["redis"]; redis.Class != Danger || redis.Notices[0].Title != "no traffic received" {
		t.Fatalf("redis (only stale traffic) = %v", redis)
	}
	want := []struct{ src, dst, class string }{
		{"INTERNET", "frontend", Warning},
		{"api", "redis", Danger},
		{"frontend", "api", Danger},
	}
	if len(r.Connections) != 3 {
		t.Fatalf("connections = %v", r.Connections)
	}
	got := map[string]*topologyv1.VizceralConnection{}
	for _, c := range r.Connections {
		got[c.Source+">"+c.Target] = c
	}
	for _, w := range want {
		c := got[w.src+">"+w.dst]
		if c == nil || c.Class != w.class {
			t.Errorf("%s→%s = %v, want class %s", w.src, w.dst, c, w.class)
		}
	}
	if c := got["api>redis"]; c.Notices[0].Title != "no traffic for 7s" {
		t.Errorf("stale notice = %v", c.Notices)
	}
	if m := got["frontend>api"].Metrics; math.Abs(m.Normal-40) > 1e-9 || m.Danger != 10 {
		t.Errorf("frontend→api metrics = %v", m)
	}
}
