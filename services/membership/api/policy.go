package api

import (
	"net/netip"
	"strings"
)

// AddressPolicy says which member addresses Register accepts. The elected
// prober connects to every member's address, and renderers send traffic
// there: a member pointing at a cloud metadata service or at the
// membership host itself turns both into a tool for whoever may register.
type AddressPolicy struct {
	// AllowLoopback accepts 127.0.0.0/8, ::1 and "localhost" (the
	// all-in-one, where everything runs on one host).
	AllowLoopback bool
	// Deny are further refused networks (CIDR prefixes).
	Deny []netip.Prefix
}

// metadataHosts are the host names of cloud instance-metadata services.
var metadataHosts = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"metadata.azure.internal":    true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// refuse returns why addr is not acceptable, or "".
func (p AddressPolicy) refuse(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return p.refuseIP(a)
	}
	host := strings.TrimSuffix(strings.ToLower(addr), ".")
	switch {
	case metadataHosts[host]:
		return "is a cloud metadata service's host name"
	case !p.AllowLoopback && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
		return "is loopback (allowed only when the membership service is configured to allow loopback)"
	}
	return ""
}

// refuseIP: link-local (169.254.0.0/16 holds the metadata services),
// unspecified, multicast and broadcast addresses never; loopback unless
// allowed; IPv4 written as IPv6 (::ffff:a.b.c.d) is judged as IPv4.
func (p AddressPolicy) refuseIP(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "is link-local (cloud metadata services live there)"
	case a.IsUnspecified():
		return "is unspecified (0.0.0.0 or ::)"
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is multicast or broadcast"
	case a.IsLoopback() && !p.AllowLoopback:
		return "is loopback (allowed only when the membership service is configured to allow loopback)"
	}
	for _, d := range p.Deny {
		if d.Contains(a) {
			return "is in a denied network (" + d.String() + ")"
		}
	}
	return ""
}
