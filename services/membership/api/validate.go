package api

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Limits on what a member may carry.
const (
	maxServiceLen    = 63
	maxIDLen         = 128
	maxLabels        = 64
	maxLabelKeyLen   = 128
	maxLabelValueLen = 1024
	maxLabelBytes    = 4096 // keys and values of one member together
	minProbeInterval = 200 * time.Millisecond
	maxProbeInterval = time.Hour
	defProbeInterval = 2 * time.Second
	maxThreshold     = 100
)

var (
	serviceRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	idRE       = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	hostRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

const serviceRule = "must be a DNS label: lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
const idRule = "must be 1-128 characters of letters, digits, '.', '_' and '-', and not '.' or '..'"

// violations collects field errors (badrequest: one InvalidArgument naming
// every field, with a BadRequest detail) plus this API's own field rules.
type violations struct{ badrequest.Violations }

func (v *violations) service(field, s string, required bool) {
	switch {
	case s == "":
		if required {
			v.Add(field, "required; %s", serviceRule)
		}
	case len(s) > maxServiceLen || !serviceRE.MatchString(s):
		v.Add(field, "%s; got %q", serviceRule, truncate(s))
	}
}

func (v *violations) id(field, s string) {
	switch {
	case s == "":
		v.Add(field, "required; %s", idRule)
	case len(s) > maxIDLen || !idRE.MatchString(s) || s == "." || s == "..":
		v.Add(field, "%s; got %q", idRule, truncate(s))
	}
}

func validHost(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) > 63 || !hostRE.MatchString(label) {
			return false
		}
	}
	return true
}

func (v *violations) address(field, s string) {
	switch {
	case s == "":
		v.Add(field, "required; must be an IP address or host name")
	case net.ParseIP(s) != nil:
	case !validHost(s):
		v.Add(field, "must be an IP address or host name (no port); got %q", truncate(s))
	}
}

func (v *violations) port(field string, p int32) {
	if p < 1 || p > 65535 {
		v.Add(field, "%d out of range 1-65535", p)
	}
}

func (v *violations) labels(field string, labels map[string]string) {
	if len(labels) > maxLabels {
		v.Add(field, "%d labels, at most %d allowed", len(labels), maxLabels)
		return
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		val := labels[k]
		total += len(k) + len(val)
		f := fmt.Sprintf("%s[%q]", field, truncate(k))
		if len(k) == 0 || len(k) > maxLabelKeyLen || !labelKeyRE.MatchString(k) {
			v.Add(f, "key must be 1-%d characters of letters, digits, '.', '_', '/' and '-'", maxLabelKeyLen)
		}
		switch {
		case len(val) > maxLabelValueLen:
			v.Add(f, "value is %d bytes, at most %d allowed", len(val), maxLabelValueLen)
		case !printable(val):
			// Label values reach config files (haproxy.cfg through the
			// renderer): a newline there starts a new directive.
			v.Add(f, "value must be printable UTF-8 without control characters (no newline, tab or NUL)")
		}
	}
	if total > maxLabelBytes {
		v.Add(field, "labels are %d bytes (keys and values), at most %d allowed", total, maxLabelBytes)
	}
}

// printable: valid UTF-8 of printable characters and spaces only.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// duration checks an optional duration field and returns it (0 when unset).
func (v *violations) duration(field string, d *durationpb.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, true
	}
	if err := d.CheckValid(); err != nil {
		v.Add(field, "invalid duration: %v", err)
		return 0, false
	}
	return d.AsDuration(), true
}

func (v *violations) healthCheck(field string, hc *membershipv1.HealthCheck) {
	if hc == nil {
		return
	}
	switch p := hc.Probe.(type) {
	case nil:
		v.Add(field+".probe", "set tcp or http")
	case *membershipv1.HealthCheck_Http:
		if path := p.Http.GetPath(); path != "" && !strings.HasPrefix(path, "/") {
			v.Add(field+".http.path", "must start with '/'; got %q", truncate(path))
		}
		if s := p.Http.GetExpectedStatus(); s != 0 && (s < 100 || s > 599) {
			v.Add(field+".http.expected_status", "%d out of range 100-599 (0 means any 2xx)", s)
		}
	}
	interval := defProbeInterval
	if d, ok := v.duration(field+".interval", hc.Interval); ok && hc.Interval != nil {
		switch {
		case d < minProbeInterval:
			v.Add(field+".interval", "%s below minimum %s", fmtDur(d), fmtDur(minProbeInterval))
		case d > maxProbeInterval:
			v.Add(field+".interval", "%s exceeds maximum %s", fmtDur(d), fmtDur(maxProbeInterval))
		default:
			interval = d
		}
	}
	if d, ok := v.duration(field+".timeout", hc.Timeout); ok && hc.Timeout != nil {
		switch {
		case d <= 0:
			v.Add(field+".timeout", "%s must be positive", fmtDur(d))
		case d > interval:
			v.Add(field+".timeout", "%s exceeds interval %s", fmtDur(d), fmtDur(interval))
		}
	}
	if hc.Threshold < 0 || hc.Threshold > maxThreshold {
		v.Add(field+".threshold", "%d out of range 0-%d (0 means the default, 2)", hc.Threshold, maxThreshold)
	}
}

// validateRegister checks a RegisterRequest and returns the lease TTL in
// whole seconds (etcd leases have second granularity; fractions round up).
func (s *Service) validateRegister(req *membershipv1.RegisterRequest) (int64, error) {
	var v violations
	m := req.GetMember()
	if m == nil {
		v.Add("member", "required")
	} else {
		v.service("member.service", m.Service, true)
		v.id("member.id", m.Id)
		v.address("member.address", m.Address)
		if why := s.opts.Addresses.refuse(m.Address); why != "" && m.Address != "" {
			v.Add("member.address", "%q %s", truncate(m.Address), why)
		}
		v.port("member.port", m.Port)
		v.labels("member.labels", m.Labels)
		v.healthCheck("member.health_check", m.HealthCheck)
	}
	var secs int64
	bounds := fmt.Sprintf("between %s and %s", fmtDur(s.opts.MinTTL), fmtDur(s.opts.MaxTTL))
	if req.GetTtl() == nil {
		v.Add("ttl", "required, %s", bounds)
	} else if d, ok := v.duration("ttl", req.Ttl); ok {
		switch {
		case d < s.opts.MinTTL:
			v.Add("ttl", "%s below minimum %s", fmtDur(d), fmtDur(s.opts.MinTTL))
		case d > s.opts.MaxTTL:
			v.Add("ttl", "%s exceeds maximum %s", fmtDur(d), fmtDur(s.opts.MaxTTL))
		default:
			secs = int64((d + time.Second - 1) / time.Second)
		}
	}
	return secs, v.Err()
}

func validateMemberRef(service, id string) error {
	var v violations
	v.service("service", service, true)
	v.id("id", id)
	return v.Err()
}

// fmtDur prints a duration without trailing zero units: 2h, 1h30m, 1s, 500ms.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// truncate keeps error messages short when a client sends a huge value.
func truncate(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}
