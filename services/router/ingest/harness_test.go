package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/rules"
	"github.com/hindsight-dev/hindsight/services/router/topics"
)

// The catalog the tests route by.
var (
	testDatasets = map[string]*routingv1.Dataset{
		"web": {Name: "web", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_COMBINED}, Topic: &routingv1.TopicSettings{Topic: "logs.web"}},
		"app": {Name: "app", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON}, Topic: &routingv1.TopicSettings{Topic: "logs.app"}},
	}
	testRoutes = map[string]*routingv1.Route{
		"app-errors": {Name: "app-errors", Dataset: "app", Topic: "logs.app.errors", Copy: true, Priority: 10, Conditions: []*routingv1.Condition{
			{Field: "log.level", Op: routingv1.Condition_OP_MATCHES, Value: "^(error|fatal)$"},
		}},
		"app-audit": {Name: "app-audit", Dataset: "app", Topic: "logs.app.audit", Priority: 20, Conditions: []*routingv1.Condition{
			{Field: "labels.env", Op: routingv1.Condition_OP_EQUALS, Value: "prod"},
			{Field: "audit", Op: routingv1.Condition_OP_EXISTS},
		}},
	}
	testTopics = []string{"logs.web", "logs.app", "logs.app.errors", "logs.app.audit"}
)

type harness struct {
	t        *testing.T
	kafka    *kfake.Cluster
	producer *kgo.Client
	g        *Ingester
	reg      *prometheus.Registry
	client   routingv1.RoutingServiceClient
}

// fakeCatalog makes datasets on first use as the real catalog does.
type fakeCatalog struct{}

func (fakeCatalog) EnsureDataset(_ context.Context, name string) (*routingv1.Dataset, error) {
	return &routingv1.Dataset{Name: name, Parser: &routingv1.Parser{}, Topic: &routingv1.TopicSettings{Topic: "logs." + name}}, nil
}

// service serves only the ingest half.
type service struct {
	routingv1.UnimplementedRoutingServiceServer
	g *Ingester
}

func (s service) Ingest(st routingv1.RoutingService_IngestServer) error { return s.g.Ingest(st) }
func (s service) IngestBatch(ctx context.Context, b *routingv1.Batch) (*routingv1.Ack, error) {
	return s.g.IngestBatch(ctx, b)
}

// newHarness runs an Ingester on an in-process Kafka (kfake) behind a gRPC
// server; change adjusts the options.
func newHarness(t *testing.T, change func(*Options, *ProducerConfig)) *harness {
	t.Helper()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, testTopics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	pc := ProducerConfig{Brokers: kafka.ListenAddrs(), Linger: time.Millisecond}
	reg := prometheus.NewRegistry()
	o := Options{AutoCreate: true, Catalog: fakeCatalog{}, Log: log, Registerer: reg}
	if change != nil {
		change(&o, &pc)
	}
	producer, err := NewClient(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	o.Producer = producer
	o.BatchMaxBytes = pc.BatchMaxBytes
	rec, err := topics.New(kadm.NewClient(producer), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Topics = rec
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.SetTable(rules.Compile(testDatasets, testRoutes, log))

	conn := servertest.Serve(t, func(srv *grpc.Server) { routingv1.RegisterRoutingServiceServer(srv, service{g: g}) })
	return &harness{t: t, kafka: kafka, producer: producer, g: g, reg: reg, client: routingv1.NewRoutingServiceClient(conn)}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// consume reads exactly n records of topic (failing on fewer within 10s),
// then checks for a moment that no more arrive.
func (h *harness) consume(topic string, n int) []*kgo.Record {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.kafka.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(10 * time.Second)
	settle := time.Time{}
	for {
		if len(out) >= n && settle.IsZero() {
			settle = time.Now().Add(300 * time.Millisecond)
		}
		stop := deadline
		if !settle.IsZero() {
			stop = settle
		}
		if time.Now().After(stop) {
			break
		}
		ctx, cancel := context.WithDeadline(context.Background(), stop)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	if len(out) != n {
		h.t.Fatalf("topic %s has %d records, want %d", topic, len(out), n)
	}
	return out
}

// line is a raw line from host h, file f at offset off.
func line(off int64, text string) *routingv1.RawLine {
	return &routingv1.RawLine{
		Source:   &eventv1.Source{Host: "node-1", FilePath: "/var/log/app.log", FileId: "f1", Offset: off},
		Line:     []byte(text),
		ReadTime: timestamppb.New(time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC)),
	}
}

func batch(seq uint64, dataset string, lines ...*routingv1.RawLine) *routingv1.Batch {
	return &routingv1.Batch{Sequence: seq, Dataset: dataset, Lines: lines, Labels: map[string]string{"env": "prod"}}
}

// pauseProduce holds every produce request until release is called; held
// receives when the first one is being held.
// sendHeld opens a stream and sends one batch whose produce Kafka holds
// until release is called.
func (h *harness) sendHeld() (st routingv1.RoutingService_IngestClient, release func()) {
	h.t.Helper()
	st, err := h.client.Ingest(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	release, held := h.pauseProduce()
	if err := st.Send(&routingv1.IngestRequest{Batch: batch(1, "web", line(0, accessLine))}); err != nil {
		h.t.Fatal(err)
	}
	<-held
	return st, release
}

func (h *harness) pauseProduce() (release func(), held <-chan struct{}) {
	gate := make(chan struct{})
	first := make(chan struct{}, 1)
	h.kafka.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		h.kafka.KeepControl()
		select {
		case first <- struct{}{}:
		default:
		}
		h.kafka.SleepControl(func() { <-gate })
		return nil, nil, false
	})
	return func() { close(gate) }, first
}
