package accesslog

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func event(t *testing.T, fields map[string]any) *eventv1.Event {
	t.Helper()
	s, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	return &eventv1.Event{
		Service:   "api",
		Dataset:   "nginx.access",
		Timestamp: timestamppb.New(time.Unix(1_700_000_000, 0)),
		Fields:    s,
	}
}

func resolver(ip string) (string, string) {
	if ip == "172.18.0.3" {
		return "frontend", "demo-frontend-1"
	}
	return "", ""
}

func TestFlowFromAccessLog(t *testing.T) {
	f, ok := Flow(event(t, map[string]any{
		"source.address":            "172.18.0.3",
		"http.request.method":       "GET",
		"url.original":              "/items/42?full=1",
		"http.response.status_code": 503.0,
		"http.response.body.bytes":  "120",
		"event.duration":            2.5e6,
	}), resolver)
	if !ok {
		t.Fatal("not a flow")
	}
	if f.Source.Service != "frontend" || f.Source.Container != "demo-frontend-1" || f.Source.Address != "172.18.0.3" ||
		f.Destination.Service != "api" || f.Status != topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR ||
		f.Operation != "GET /items/{id}" || f.BytesSent != 120 || f.Latency.AsDuration() != 2500*time.Microsecond ||
		f.Origin != topologyv1.Origin_ORIGIN_ACCESS_LOG || f.Count != 1 || f.Time.AsTime().Unix() != 1_700_000_000 {
		t.Fatalf("flow = %v", f)
	}

	f, _ = Flow(event(t, map[string]any{"source.address": "203.0.113.9:5123", "http.response.status_code": 404.0}), resolver)
	if f.Source.Service != "" || f.Source.Address != "203.0.113.9" || f.Source.Port != 5123 || f.Status != topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR {
		t.Fatalf("outside client: %v", f)
	}
	if _, ok := Flow(event(t, map[string]any{"message": "not an access log"}), resolver); ok {
		t.Fatal("an event without a status code made a flow")
	}
}
