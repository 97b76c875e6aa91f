package dockerwatch

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func inspect(labels map[string]string, nets map[string]string) container.InspectResponse {
	eps := map[string]*network.EndpointSettings{}
	for n, ip := range nets {
		ep := &network.EndpointSettings{}
		if ip != "" {
			ep.IPAddress = netip.MustParseAddr(ip)
		}
		eps[n] = ep
	}
	return container.InspectResponse{
		ID: "0123456789abcdef", Name: "/web-1",
		State:           &container.State{Running: true},
		Config:          &container.Config{Labels: labels, Image: "web"},
		NetworkSettings: &container.NetworkSettings{Networks: eps},
	}
}

func TestSpecFromLabels(t *testing.T) {
	c := inspect(map[string]string{
		LabelService: "web", LabelPort: "8080", LabelCheck: "http:/healthz=204",
		LabelInterval: "500ms", LabelThreshold: "3", LabelTTL: "4s", LabelNetwork: "front",
		"hindsight.label.zone": "a",
	}, map[string]string{"front": "172.18.0.5", "back": "172.19.0.5"})
	sp, err := specFor(c, "node-a", "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := sp.req.Member
	if m.Service != "web" || m.Id != "web-1" || m.Address != "172.18.0.5" || m.Port != 8080 {
		t.Fatalf("member = %v", m)
	}
	if sp.req.Ttl.AsDuration() != 4*time.Second {
		t.Fatalf("ttl = %s", sp.req.Ttl.AsDuration())
	}
	hc := m.HealthCheck
	if hc.GetHttp().GetPath() != "/healthz" || hc.GetHttp().GetExpectedStatus() != 204 || hc.Interval.AsDuration() != 500*time.Millisecond || hc.Timeout.AsDuration() != 250*time.Millisecond || hc.Threshold != 3 {
		t.Fatalf("check = %v", hc)
	}
	if m.Labels["zone"] != "a" || m.Labels[MemberLabelNode] != "node-a" || m.Labels[MemberLabelNetwork] != "front" || m.Labels[MemberLabelContainerID] != c.ID {
		t.Fatalf("labels = %v", m.Labels)
	}
}

func TestSpecDefaultsAndErrors(t *testing.T) {
	base := map[string]string{LabelService: "web", LabelPort: "80"}
	one := map[string]string{"bridge": "172.17.0.2"}
	sp, err := specFor(inspect(base, one), "n", "", 7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sp.req.Ttl.AsDuration() != 7*time.Second || sp.req.Member.HealthCheck != nil || sp.req.Member.Address != "172.17.0.2" {
		t.Fatalf("defaults: %v", sp.req)
	}
	tcp := map[string]string{LabelService: "web", LabelPort: "80", LabelCheck: "tcp"}
	if sp, err := specFor(inspect(tcp, one), "n", "", time.Second); err != nil || sp.req.Member.HealthCheck.GetProbe().(*membershipv1.HealthCheck_Tcp) == nil {
		t.Fatalf("tcp check: %v %v", sp.req, err)
	}
	with := func(k, v string) map[string]string {
		l := map[string]string{LabelService: "web", LabelPort: "80"}
		l[k] = v
		return l
	}
	for _, tc := range []struct {
		labels map[string]string
		nets   map[string]string
		defNet string
		want   string
	}{
		{with(LabelPort, "http"), one, "", LabelPort},
		{with(LabelPort, "70000"), one, "", LabelPort},
		{with(LabelCheck, "udp"), one, "", LabelCheck},
		{with(LabelTTL, "soon"), one, "", LabelTTL},
		{base, map[string]string{"a": "10.0.0.1", "b": "10.0.1.1"}, "", "say which"},
		{base, one, "front", `not on network "front"`},
		{base, map[string]string{"bridge": ""}, "", "no IP address"},
		{base, map[string]string{}, "", "no network"},
	} {
		_, err := specFor(inspect(tc.labels, tc.nets), "n", tc.defNet, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("labels %v nets %v: err %v, want it to mention %q", tc.labels, tc.nets, err, tc.want)
		}
	}
}
