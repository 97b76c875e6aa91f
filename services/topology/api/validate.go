package api

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Bounds of what a request may ask for.
const (
	DefaultWindow   = 10 * time.Second
	DefaultInterval = time.Second
	MinInterval     = 200 * time.Millisecond
	maxNameLen      = 253
	maxFlowsPerCall = 10000
)

// violations collects field errors (badrequest: one InvalidArgument naming
// every field, with a BadRequest detail) plus this API's own field rules.
type violations struct{ badrequest.Violations }

func (v *violations) name(field, s string, required bool) {
	switch {
	case s == "" && required:
		v.Add(field, "required")
	case len(s) > maxNameLen:
		v.Add(field, "longer than %d bytes", maxNameLen)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.Add(field, "must not contain spaces or control characters")
	}
}

func (v *violations) endpoint(field string, e *topologyv1.Endpoint, serviceRequired bool) {
	if e == nil {
		if serviceRequired {
			v.Add(field, "required")
		}
		return
	}
	v.name(field+".service", e.GetService(), serviceRequired)
	v.name(field+".container", e.GetContainer(), false)
	v.name(field+".address", e.GetAddress(), false)
	if p := e.GetPort(); p < 0 || p > 65535 {
		v.Add(field+".port", "must be 0-65535")
	}
}

// validateFlows checks a ReportFlows message. A flow's source may be empty
// (traffic from outside: the Internet); its destination may not.
func validateFlows(req *topologyv1.ReportFlowsRequest) error {
	var v violations
	if len(req.GetFlows()) > maxFlowsPerCall {
		v.Add("flows", "at most %d flows per message", maxFlowsPerCall)
		return v.Err()
	}
	for i, f := range req.GetFlows() {
		field := fmt.Sprintf("flows[%d]", i)
		v.endpoint(field+".source", f.GetSource(), false)
		v.endpoint(field+".destination", f.GetDestination(), true)
		if _, ok := topologyv1.Protocol_name[int32(f.GetProtocol())]; !ok || f.GetProtocol() == topologyv1.Protocol_PROTOCOL_UNSPECIFIED {
			v.Add(field+".protocol", "required: HTTP, REDIS, POSTGRES or TCP")
		}
		if _, ok := topologyv1.StatusClass_name[int32(f.GetStatus())]; !ok || f.GetStatus() == topologyv1.StatusClass_STATUS_CLASS_UNSPECIFIED {
			v.Add(field+".status", "required: OK, CLIENT_ERROR or SERVER_ERROR")
		}
		if f.GetCount() < 0 {
			v.Add(field+".count", "must not be negative")
		}
		if l := f.GetLatency(); l != nil && (l.CheckValid() != nil || l.AsDuration() < 0) {
			v.Add(field+".latency", "must be a valid, non-negative duration")
		}
		if f.GetBytesSent() < 0 {
			v.Add(field+".bytes_sent", "must not be negative")
		}
		if f.GetBytesReceived() < 0 {
			v.Add(field+".bytes_received", "must not be negative")
		}
		if t := f.GetTime(); t != nil && t.CheckValid() != nil {
			v.Add(field+".time", "invalid timestamp")
		}
		if len(v.Violations) >= 20 { // enough to fix the sender; do not build a huge error
			break
		}
	}
	return v.Err()
}

// window checks a requested window against the longest one kept.
func window(v *violations, field string, d *durationpb.Duration, maxWindow time.Duration) time.Duration {
	if d == nil {
		return DefaultWindow
	}
	w := d.AsDuration()
	switch {
	case d.CheckValid() != nil || w < time.Second:
		v.Add(field, "must be at least 1s")
	case w > maxWindow:
		v.Add(field, "must be at most %s", maxWindow)
	}
	return w.Truncate(time.Second)
}

func interval(v *violations, field string, d *durationpb.Duration) time.Duration {
	if d == nil {
		return DefaultInterval
	}
	i := d.AsDuration()
	if d.CheckValid() != nil || i < MinInterval {
		v.Add(field, "must be at least %s", MinInterval)
	}
	return i
}
