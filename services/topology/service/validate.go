package service

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

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

// violations collects field errors; err turns them into one InvalidArgument
// status whose message names every field, with a BadRequest detail.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	msgs := make([]string, len(v))
	for i, f := range v {
		msgs[i] = f.Field + ": " + f.Description
	}
	st := status.New(codes.InvalidArgument, strings.Join(msgs, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = d
	}
	return st.Err()
}

func (v *violations) name(field, s string, required bool) {
	switch {
	case s == "" && required:
		v.add(field, "required")
	case len(s) > maxNameLen:
		v.add(field, "longer than %d bytes", maxNameLen)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add(field, "must not contain spaces or control characters")
	}
}

func (v *violations) endpoint(field string, e *topologyv1.Endpoint, serviceRequired bool) {
	if e == nil {
		if serviceRequired {
			v.add(field, "required")
		}
		return
	}
	v.name(field+".service", e.GetService(), serviceRequired)
	v.name(field+".container", e.GetContainer(), false)
	v.name(field+".address", e.GetAddress(), false)
	if p := e.GetPort(); p < 0 || p > 65535 {
		v.add(field+".port", "must be 0-65535")
	}
}

// validateFlows checks a ReportFlows message. A flow's source may be empty
// (traffic from outside: the Internet); its destination may not.
func validateFlows(req *topologyv1.ReportFlowsRequest) error {
	var v violations
	if len(req.GetFlows()) > maxFlowsPerCall {
		v.add("flows", "at most %d flows per message", maxFlowsPerCall)
		return v.err()
	}
	for i, f := range req.GetFlows() {
		field := fmt.Sprintf("flows[%d]", i)
		v.endpoint(field+".source", f.GetSource(), false)
		v.endpoint(field+".destination", f.GetDestination(), true)
		if _, ok := topologyv1.Protocol_name[int32(f.GetProtocol())]; !ok || f.GetProtocol() == topologyv1.Protocol_PROTOCOL_UNSPECIFIED {
			v.add(field+".protocol", "required: HTTP, REDIS, POSTGRES or TCP")
		}
		if _, ok := topologyv1.StatusClass_name[int32(f.GetStatus())]; !ok || f.GetStatus() == topologyv1.StatusClass_STATUS_CLASS_UNSPECIFIED {
			v.add(field+".status", "required: OK, CLIENT_ERROR or SERVER_ERROR")
		}
		if f.GetCount() < 0 {
			v.add(field+".count", "must not be negative")
		}
		if l := f.GetLatency(); l != nil && (l.CheckValid() != nil || l.AsDuration() < 0) {
			v.add(field+".latency", "must be a valid, non-negative duration")
		}
		if f.GetBytesSent() < 0 {
			v.add(field+".bytes_sent", "must not be negative")
		}
		if f.GetBytesReceived() < 0 {
			v.add(field+".bytes_received", "must not be negative")
		}
		if t := f.GetTime(); t != nil && t.CheckValid() != nil {
			v.add(field+".time", "invalid timestamp")
		}
		if len(v) >= 20 { // enough to fix the sender; do not build a huge error
			break
		}
	}
	return v.err()
}

// window checks a requested window against the longest one kept.
func window(v *violations, field string, d *durationpb.Duration, maxWindow time.Duration) time.Duration {
	if d == nil {
		return DefaultWindow
	}
	w := d.AsDuration()
	switch {
	case d.CheckValid() != nil || w < time.Second:
		v.add(field, "must be at least 1s")
	case w > maxWindow:
		v.add(field, "must be at most %s", maxWindow)
	}
	return w.Truncate(time.Second)
}

func interval(v *violations, field string, d *durationpb.Duration) time.Duration {
	if d == nil {
		return DefaultInterval
	}
	i := d.AsDuration()
	if d.CheckValid() != nil || i < MinInterval {
		v.add(field, "must be at least %s", MinInterval)
	}
	return i
}
