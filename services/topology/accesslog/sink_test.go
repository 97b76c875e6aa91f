package accesslog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/kafkatest"
	"github.com/hindsight-dev/hindsight/internal/metricset/metrictest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/topology/accesslog"
	"github.com/hindsight-dev/hindsight/services/topology/api"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
)

const (
	topic      = "logs.nginx.access"
	group      = "hindsight-topology"
	frontendIP = "172.18.0.3"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// nginxRecord is request i of the api's nginx as the router writes it: the
// fields of internal/parse's combined parser, status given.
func nginxRecord(t *testing.T, i int, status int) *kgo.Record {
	t.Helper()
	fields, err := structpb.NewStruct(map[string]any{
		"source.address":            frontendIP,
		"http.request.method":       "GET",
		"url.original":              fmt.Sprintf("/items/%d?full=1", i),
		"http.version":              "1.1",
		"http.response.status_code": float64(status),
		"http.response.body.bytes":  float64(512),
		"user_agent.original":       "demo-frontend/1.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := t0.Add(time.Duration(i) * 100 * time.Millisecond)
	e := &eventv1.Event{
		Id:        fmt.Sprintf("nginx-%03d", i),
		Timestamp: timestamppb.New(ts),
		Dataset:   "nginx.access",
		Service:   "api",
		Message:   fmt.Sprintf(`%s - - [...] "GET /items/%d?full=1 HTTP/1.1" %d 512`, frontendIP, i, status),
		Fields:    fields,
	}
	doc, err := event.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return kafkatest.Record(topic, int32(i%2), e.Id, e.Dataset, ts, doc)
}

// TestAccessLogsMakeEdges consumes 100 nginx access-log records of the api
// (10/s for 10 s from the frontend's address, 5 × 500 and 2 × 404) plus
// records that are no access logs, and reads the frontend → api edge off the
// graph the gRPC service serves.
func TestAccessLogsMakeEdges(t *testing.T) {
	kafka := kafkatest.New(t, map[string]int32{topic: 2, "logs.app": 1})
	c := &clock{t: t0.Add(11 * time.Second)} // with the 1 s lag, windows end at t0+10s
	agg := graph.New(graph.Options{Now: c.now})
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := api.New(api.Options{Aggregator: agg, Log: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// The agent has seen the frontend's container at its address.
	if ok, err := svc.Report(&topologyv1.Flow{
		Destination: &topologyv1.Endpoint{Service: "frontend", Container: "demo-frontend-1", Address: frontendIP},
		Protocol:    topologyv1.Protocol_PROTOCOL_HTTP, Status: topologyv1.StatusClass_STATUS_CLASS_OK,
		Count: 100, Time: timestamppb.New(t0), Origin: topologyv1.Origin_ORIGIN_CAPTURE,
	}); !ok || err != nil {
		t.Fatalf("agent flow: %v %v", ok, err)
	}

	var recs []*kgo.Record
	for i := range 100 {
		status := 200
		switch {
		case i%20 == 7:
			status = 500
		case i == 3 || i == 50:
			status = 404
		}
		recs = append(recs, nginxRecord(t, i, status))
	}
	// Not access logs: an application line on an access topic, a broken
	// document, and a topic the regex leaves alone.
	recs = append(recs,
		kafkatest.Record(topic, 0, "plain", "nginx.access", t0, kafkatest.Doc("plain", "nginx.access", t0, "worker process started")),
		kafkatest.Record(topic, 1, "broken", "nginx.access", t0, []byte(`{"@timestamp":`)),
		kafkatest.Record("logs.app", 0, "app", "app", t0, kafkatest.Doc("app", "app", t0, "hello")),
	)
	kafka.Produce(recs...)

	sink, err := accesslog.NewSink(svc.Report, agg.Resolve, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kafkaconsume.New(kafkaconsume.Config{
		Brokers: kafka.Brokers(), Group: group, TopicsRegex: accesslog.DefaultTopicsRegex,
		Tick: 20 * time.Millisecond, LagInterval: -1,
	}, sink, "topology_access_log", log, reg)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Run(t, cons.Run)

	// Offsets are committed as soon as the flows are fed.
	kafka.WaitCaughtUp(group, 10*time.Second, topic)

	g, err := svc.GetGraph(context.Background(), &topologyv1.GetGraphRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var e *topologyv1.Edge
	for _, x := range g.GetEdges() {
		if x.Source == "frontend" && x.Destination == "api" {
			e = x
		}
	}
	if e == nil || len(g.GetEdges()) != 2 {
		t.Fatalf("want INTERNET→frontend (agent) and frontend→api (access logs), got %v", g.GetEdges())
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if e.Protocol != topologyv1.Protocol_PROTOCOL_HTTP || !near(e.RequestRate, 10) || !near(e.ErrorRatio, 0.07) ||
		!near(e.ServerErrorRate, 0.5) || !near(e.ClientErrorRate, 0.2) {
		t.Fatalf("frontend→api = %v, want 10 req/s, error ratio 0.07 (0.5 5xx/s, 0.2 4xx/s)", e)
	}

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hindsight_topology_access_log_records_consumed_total", map[string]string{"topic": topic}, 102},
		{"hindsight_topology_access_log_flows_total", nil, 100},
		{"hindsight_topology_access_log_skipped_total", map[string]string{"reason": "not_access_log"}, 1},
		{"hindsight_topology_access_log_skipped_total", map[string]string{"reason": "undecodable"}, 1},
		{"hindsight_topology_requests_total", map[string]string{"origin": "ORIGIN_ACCESS_LOG"}, 100},
	} {
		if got := metrictest.Sum(t, reg, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}
