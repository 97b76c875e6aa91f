package capture

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

type fakeDocker struct {
	containers []container.Summary
	networks   []network.Summary
}

func (f *fakeDocker) Events(context.Context, client.EventsListOptions) client.EventsResult {
	return client.EventsResult{}
}

func (f *fakeDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{Items: f.containers}, nil
}

func (f *fakeDocker) NetworkList(context.Context, client.NetworkListOptions) (client.NetworkListResult, error) {
	return client.NetworkListResult{Items: f.networks}, nil
}

func running(id, name, image string, labels map[string]string, ip string) container.Summary {
	return container.Summary{
		ID: id, Names: []string{"/" + name}, Image: image, Labels: labels, State: container.StateRunning,
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"demo": {IPAddress: netip.MustParseAddr(ip)},
		}},
	}
}

func TestServiceName(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		image  string
		want   string
	}{
		{map[string]string{LabelService: "api", LabelComposeService: "x"}, "img", "api"},
		{map[string]string{LabelComposeService: "web"}, "img", "web"},
		{nil, "registry.local:5000/team/redis:7", "redis"},
		{nil, "postgres", "postgres"},
		{nil, "hindsight-e2e/postgres@sha256:abc", "postgres"},
	} {
		if got := ServiceName(c.labels, c.image); got != c.want {
			t.Errorf("ServiceName(%v, %q) = %q, want %q", c.labels, c.image, got, c.want)
		}
	}
}

func TestDirectory(t *testing.T) {
	fd := &fakeDocker{
		containers: []container.Summary{
			running("aaaaaaaaaaaaaaaa", "demo-api-1", "demo/api:latest", map[string]string{LabelService: "api"}, "172.18.0.3"),
			running("bbbbbbbbbbbbbbbb", "demo-redis-1", "hindsight-e2e/redis:7", nil, "172.18.0.4"),
		},
		networks: []network.Summary{
			{Network: network.Network{Name: "bridge", ID: "d26b827cb43c0000", Driver: "bridge", Options: map[string]string{"com.docker.network.bridge.name": "docker0"}}},
			{Network: network.Network{Name: "demo", ID: "0123456789abcdef", Driver: "bridge"}},
			{Network: network.Network{Name: "host", ID: "49c0fbbd1517", Driver: "host"}},
		},
	}
	d := NewDirectory(fd, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, ok := d.Lookup(netip.MustParseAddr("172.18.0.3")); !ok || c.Service != "api" || c.Name != "demo-api-1" {
		t.Fatalf("api: %v %v", c, ok)
	}
	if c, _ := d.Lookup(netip.MustParseAddr("172.18.0.4")); c.Service != "redis" {
		t.Fatalf("redis: %v", c)
	}
	if _, ok := d.Lookup(netip.MustParseAddr("172.18.0.1")); ok {
		t.Fatal("the gateway is not a container")
	}
	nets := d.Networks()
	if len(nets) != 2 || nets[0] != (Network{"bridge", "docker0"}) || nets[1] != (Network{"demo", "br-0123456789ab"}) {
		t.Fatalf("networks = %v", nets)
	}
	// api dies: its address stays known for a while (its clients' failures
	// are still attributed to it).
	fd.containers = fd.containers[1:]
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, ok := d.Lookup(netip.MustParseAddr("172.18.0.3")); !ok || c.Service != "api" {
		t.Fatalf("api just gone: %v %v", c, ok)
	}
	// Its address reused by another container: the new owner wins.
	fd.containers = append(fd.containers, running("cccccccccccccccc", "demo-web-1", "nginx:1", nil, "172.18.0.3"))
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, _ := d.Lookup(netip.MustParseAddr("172.18.0.3")); c.Service != "nginx" {
		t.Fatalf("reused address: %v", c)
	}
}
