package dockerwatch

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"google.golang.org/protobuf/types/known/durationpb"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// The container labels the watcher reads. Only hindsight.service and
// hindsight.port are required.
const (
	LabelService   = "hindsight.service"         // service name (a DNS label)
	LabelPort      = "hindsight.port"            // port the container listens on, in its network
	LabelCheck     = "hindsight.check"           // "tcp", or "http:/path" (optionally "http:/path=200")
	LabelInterval  = "hindsight.check.interval"  // probe interval, e.g. "1s"
	LabelThreshold = "hindsight.check.threshold" // consecutive results to change health
	LabelTTL       = "hindsight.ttl"             // lease TTL, e.g. "10s"
	LabelNetwork   = "hindsight.network"         // which Docker network's address to register
	LabelID        = "hindsight.id"              // member id (default: the container's name)
	// LabelPrefixMember labels are copied onto the member without the prefix:
	// hindsight.label.zone=a becomes the member label zone=a.
	LabelPrefixMember = "hindsight.label."
)

// Member labels the watcher sets, so templates and operators can tell where a
// member comes from, and a restarted agent can find the members it owns.
const (
	MemberLabelNode        = "docker.node"
	MemberLabelContainerID = "docker.container_id"
	MemberLabelName        = "docker.container_name"
	MemberLabelImage       = "docker.image"
	MemberLabelNetwork     = "docker.network"
)

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// spec is what the watcher registers for one container.
type spec struct {
	containerID string
	req         *membershipv1.RegisterRequest
}

func (s spec) service() string { return s.req.Member.Service }
func (s spec) id() string      { return s.req.Member.Id }

// labelled says whether a container asks to be registered.
func labelled(labels map[string]string) bool { return labels[LabelService] != "" }

// specFor builds the registration of a running container from its labels and
// network settings. defaultNetwork ("" for any) and defaultTTL apply when the
// container's labels do not say.
func specFor(c container.InspectResponse, node, defaultNetwork string, defaultTTL time.Duration) (spec, error) {
	if c.Config == nil {
		return spec{}, fmt.Errorf("container %s: no config in inspect answer", short(c.ID))
	}
	labels := c.Config.Labels
	m := &membershipv1.Member{Service: labels[LabelService], Labels: map[string]string{}}
	port, err := strconv.Atoi(labels[LabelPort])
	if err != nil || port < 1 || port > 65535 {
		return spec{}, fmt.Errorf("label %s=%q: want a port 1-65535", LabelPort, labels[LabelPort])
	}
	m.Port = int32(port)

	name := strings.TrimPrefix(c.Name, "/")
	switch {
	case labels[LabelID] != "":
		m.Id = labels[LabelID]
	case name != "":
		m.Id = idUnsafe.ReplaceAllString(name, "_")
	default:
		m.Id = short(c.ID)
	}

	nw := labels[LabelNetwork]
	if nw == "" {
		nw = defaultNetwork
	}
	addr, nwName, err := address(c, nw)
	if err != nil {
		return spec{}, err
	}
	m.Address = addr.String()

	if v := labels[LabelCheck]; v != "" {
		hc, err := parseCheck(v, labels[LabelInterval], labels[LabelThreshold])
		if err != nil {
			return spec{}, err
		}
		m.HealthCheck = hc
	}
	ttl := defaultTTL
	if v := labels[LabelTTL]; v != "" {
		if ttl, err = time.ParseDuration(v); err != nil {
			return spec{}, fmt.Errorf("label %s=%q: %v", LabelTTL, v, err)
		}
	}
	for k, v := range labels {
		if key, ok := strings.CutPrefix(k, LabelPrefixMember); ok && key != "" {
			m.Labels[key] = v
		}
	}
	m.Labels[MemberLabelNode] = node
	m.Labels[MemberLabelContainerID] = c.ID
	m.Labels[MemberLabelName] = name
	m.Labels[MemberLabelNetwork] = nwName
	if c.Config.Image != "" {
		m.Labels[MemberLabelImage] = c.Config.Image
	}
	return spec{containerID: c.ID, req: &membershipv1.RegisterRequest{Member: m, Ttl: durationpb.New(ttl)}}, nil
}

// address picks the container's IP on the named network, or on its only
// network when none is named (several networks and no name is an error: the
// wrong one would send traffic where it cannot arrive).
func address(c container.InspectResponse, network string) (netip.Addr, string, error) {
	if c.NetworkSettings == nil || len(c.NetworkSettings.Networks) == 0 {
		return netip.Addr{}, "", fmt.Errorf("container %s has no network (host or none network mode?)", short(c.ID))
	}
	nets := c.NetworkSettings.Networks
	names := slices.Sorted(maps.Keys(nets))
	if network == "" {
		if len(names) > 1 {
			return netip.Addr{}, "", fmt.Errorf("container %s is on networks %s: say which with label %s or --network", short(c.ID), strings.Join(names, ", "), LabelNetwork)
		}
		network = names[0]
	}
	ep := nets[network]
	if ep == nil {
		return netip.Addr{}, "", fmt.Errorf("container %s is not on network %q (it is on %s)", short(c.ID), network, strings.Join(names, ", "))
	}
	if !ep.IPAddress.IsValid() {
		return netip.Addr{}, "", fmt.Errorf("container %s has no IP address on network %q", short(c.ID), network)
	}
	return ep.IPAddress, network, nil
}

// parseCheck reads "tcp", "http:/path" or "http:/path=STATUS".
func parseCheck(v, interval, threshold string) (*membershipv1.HealthCheck, error) {
	hc := &membershipv1.HealthCheck{}
	switch {
	case v == "tcp":
		hc.Probe = &membershipv1.HealthCheck_Tcp{Tcp: &membershipv1.TCPProbe{}}
	case v == "http" || strings.HasPrefix(v, "http:"):
		rest := strings.TrimPrefix(strings.TrimPrefix(v, "http"), ":")
		p := &membershipv1.HTTPProbe{Path: rest}
		if path, code, ok := strings.Cut(rest, "="); ok {
			n, err := strconv.Atoi(code)
			if err != nil {
				return nil, fmt.Errorf("label %s=%q: status %q is not a number", LabelCheck, v, code)
			}
			p.Path, p.ExpectedStatus = path, int32(n)
		}
		if p.Path == "" {
			p.Path = "/"
		}
		hc.Probe = &membershipv1.HealthCheck_Http{Http: p}
	default:
		return nil, fmt.Errorf("label %s=%q: want tcp, http:/path or http:/path=STATUS", LabelCheck, v)
	}
	if interval != "" {
		d, err := time.ParseDuration(interval)
		if err != nil {
			return nil, fmt.Errorf("label %s=%q: %v", LabelInterval, interval, err)
		}
		hc.Interval = durationpb.New(d)
		if d < time.Second { // the default 1s timeout must fit in the interval
			hc.Timeout = durationpb.New(d / 2)
		}
	}
	if threshold != "" {
		n, err := strconv.Atoi(threshold)
		if err != nil {
			return nil, fmt.Errorf("label %s=%q: not a number", LabelThreshold, threshold)
		}
		hc.Threshold = int32(n)
	}
	return hc, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
