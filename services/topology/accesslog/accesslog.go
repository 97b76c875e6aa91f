// Package accesslog turns access-log events the router parsed (nginx,
// HAProxy, Apache: ECS fields such as source.address, http.request.method,
// url.original, http.response.status_code) into flows, so services whose
// traffic is not captured still get edges: the event's service is the
// destination, its client address (resolved to a service when it is one of
// ours, else the Internet) the source.
//
// Sink feeds Flow from the router's Kafka topics (logs.<dataset>, by default
// the access-log datasets) into the topology service through
// internal/kafkaconsume.
package accesslog

import (
	"net"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hindsight-dev/hindsight/internal/httpstatus"
	"github.com/hindsight-dev/hindsight/internal/pathtemplate"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Resolver names the service and container behind a client IP; empty
// strings for an address outside the known services.
type Resolver func(ip string) (service, container string)

// Flow returns the flow of one access-log event, or false when the event is
// not one (no service, or no status code).
func Flow(e *eventv1.Event, resolve Resolver) (*topologyv1.Flow, bool) {
	fields := e.GetFields().GetFields()
	code, ok := number(fields["http.response.status_code"])
	if !ok || e.GetService() == "" || code < 100 || code > 999 {
		return nil, false
	}
	f := &topologyv1.Flow{
		Destination: &topologyv1.Endpoint{Service: e.GetService()},
		Protocol:    topologyv1.Protocol_PROTOCOL_HTTP,
		Status:      httpstatus.Class(int(code)),
		Count:       1,
		Time:        e.GetTimestamp(),
		Origin:      topologyv1.Origin_ORIGIN_ACCESS_LOG,
	}
	if b, ok := number(fields["http.response.body.bytes"]); ok && b >= 0 {
		f.BytesSent = int64(b)
	}
	// ECS event.duration is in nanoseconds.
	if d, ok := number(fields["event.duration"]); ok && d >= 0 {
		f.Latency = durationpb.New(time.Duration(d))
	}
	if method := str(fields["http.request.method"]); method != "" {
		f.Operation = method + " " + pathtemplate.Template(str(fields["url.original"]))
	}
	if addr := str(fields["source.address"]); addr != "" {
		ip := addr
		if host, port, err := net.SplitHostPort(addr); err == nil {
			ip = host
			if p, err := strconv.Atoi(port); err == nil {
				f.Source = &topologyv1.Endpoint{Port: int32(p)}
			}
		}
		if f.Source == nil {
			f.Source = &topologyv1.Endpoint{}
		}
		f.Source.Address = ip
		if resolve != nil {
			f.Source.Service, f.Source.Container = resolve(ip)
		}
	}
	return f, true
}

// number reads a numeric field, also when a parser kept it as a string.
func number(v *structpb.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return k.NumberValue, true
	case *structpb.Value_StringValue:
		n, err := strconv.ParseFloat(k.StringValue, 64)
		return n, err == nil
	}
	return 0, false
}

func str(v *structpb.Value) string { return v.GetStringValue() }
