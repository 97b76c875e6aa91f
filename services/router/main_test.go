package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/app"
)

func TestFlagDefaults(t *testing.T) {
	servertest.Defaults(t, binary().Bind, map[string]string{
		"grpc-addr":                     ":9101",
		"admin-addr":                    ":9102",
		"kafka-brokers":                 "localhost:9092",
		"etcd-endpoints":                "localhost:2379",
		"etcd-prefix":                   "/hindsight/routing/",
		"config":                        "",
		"config-overwrite":              "false",
		"auto-create-datasets":          "true",
		"producer-linger":               "10ms",
		"producer-batch-max-bytes":      "1000012",
		"producer-max-buffered-records": "50000",
		"producer-compression":          "lz4",
		"produce-timeout":               "30s",
		"max-inflight-batches":          "64",
	})
}

// env is the engines routers share in a test: one etcd, one Kafka.
type env struct {
	t     *testing.T
	etcd  *etcdembed.Etcd
	kafka *kfake.Cluster
	adm   *kadm.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := etcdtest.Start(t)
	k, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.ListenAddrs()...), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, etcd: e, kafka: k, adm: kadm.NewClient(cl)}
}

type router struct {
	srv    *server.Server
	client routingv1.RoutingServiceClient
	health healthpb.HealthClient
	stop   func() error // cancels and waits for Run
}

// start runs a router's setup and server in-process on free ports.
func (e *env) start(args ...string) *router {
	e.t.Helper()
	b := servertest.Start(e.t, binary(), append([]string{
		"--etcd-endpoints=" + strings.Join(e.etcd.Endpoints(), ","),
		"--kafka-brokers=" + strings.Join(e.kafka.ListenAddrs(), ","),
		"--producer-linger=1ms",
	}, args...)...)
	r := &router{srv: b.Server, client: routingv1.NewRoutingServiceClient(b.Conn), health: healthpb.NewHealthClient(b.Conn), stop: b.Stop}
	r.waitServing(e.t)
	return r
}

func (r *router) waitServing(t *testing.T) {
	t.Helper()
	polltest.True(t, "router serving", 15*time.Second, func() bool {
		resp, err := r.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: routingv1.RoutingService_ServiceDesc.ServiceName})
		return err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING
	})
}

// topicConfigs are a topic's configs, or nil while it does not exist.
func (e *env) topicConfigs(topic string) map[string]string {
	rcs, err := e.adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		return nil
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return nil
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out
}

// events reads what topic holds so far.
func (e *env) events(topic string) []*eventv1.Event {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out []*eventv1.Event
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			ev, err := event.Unmarshal(r.Value)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ev)
		})
	}
	return out
}

func rawLine(off int64, text string) *routingv1.RawLine {
	return &routingv1.RawLine{Source: &eventv1.Source{Host: "node-1", FileId: "f", Offset: off}, Line: []byte(text)}
}

const routerConfig = `
defaults:
  topic: {partitions: 2, retention: 3d, compression: lz4}
datasets:
  - name: nginx.access
    parser: {format: combined}
    topic: {retention_bytes: 1048576}
  - name: app
    parser: {format: logfmt}
routes:
  - name: nginx-5xx
    dataset: nginx.access
    topic: logs.nginx.errors
    copy: true
    conditions:
      - {field: http.response.status_code, op: matches, value: "^5"}
`

func writeConfig(t *testing.T, text string) string {
	path := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRouterSeedsReconcilesIngestsAndShutsDown(t *testing.T) {
	e := newEnv(t)
	r := e.start("--config=" + writeConfig(t, routerConfig))
	ctx := context.Background()

	// Topics declared in the file, created with their settings.
	for topic, want := range map[string]map[string]string{
		"logs.nginx.access": {"retention.ms": "259200000", "retention.bytes": "1048576", "compression.type": "lz4"},
		"logs.nginx.errors": {"retention.ms": "259200000", "compression.type": "lz4"},
		"logs.app":          {"retention.ms": "259200000", "compression.type": "lz4"},
	} {
		polltest.True(t, "topic "+topic, 15*time.Second, func() bool { return e.topicConfigs(topic) != nil })
		got := e.topicConfigs(topic)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s = %q, want %q", topic, k, got[k], v)
			}
		}
	}

	ack, err := r.client.IngestBatch(ctx, &routingv1.Batch{Sequence: 1, Dataset: "nginx.access", Lines: []*routingv1.RawLine{
		rawLine(0, `10.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"`),
		rawLine(100, `10.0.0.1 - - [21/Oct/2015:16:29:01 +0000] "GET /boom HTTP/1.1" 503 5 "-" "curl"`),
	}})
	if err != nil || ack.Accepted != 2 || ack.ParseFailures != 0 {
		t.Fatalf("ingest: %v %v", ack, err)
	}
	if got := len(e.events("logs.nginx.access")); got != 2 {
		t.Errorf("logs.nginx.access has %d events, want 2 (the 503 is copied)", got)
	}
	if errs := e.events("logs.nginx.errors"); len(errs) != 1 || errs[0].Source.Offset != 100 {
		t.Errorf("logs.nginx.errors: %v", errs)
	}

	// Changing a dataset's retention through the API alters its topic (one
	// made through the API: those the file declares are the file's).
	if _, err := r.client.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "api"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset:    &routingv1.Dataset{Name: "api", Topic: &routingv1.TopicSettings{RetentionBytes: 4096}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"topic.retention_bytes"}},
	}); err != nil {
		t.Fatal(err)
	}
	polltest.True(t, "retention.bytes of logs.api altered", 15*time.Second, func() bool { return e.topicConfigs("logs.api")["retention.bytes"] == "4096" })

	// The API names the invalid fields.
	_, err = r.client.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "x", Dataset: "app"}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "route.topic") {
		t.Errorf("create route without topic: %v", err)
	}

	// Shutting down ends an idle agent stream instead of waiting for it.
	st, err := r.client.Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&routingv1.IngestRequest{Batch: &routingv1.Batch{Sequence: 9, Dataset: "app", Lines: []*routingv1.RawLine{rawLine(500, "level=info msg=bye")}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.Ack.Sequence != 9 {
		t.Fatalf("stream ack: %v %v", resp, err)
	}
	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("shutdown took %v with an idle stream open", d)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("the stream ends Unavailable so the agent moves on; got %v", err)
	}
}

func TestHotReloadAcrossRouters(t *testing.T) {
	e := newEnv(t)
	a := e.start("--config=" + writeConfig(t, routerConfig))
	b := e.start() // no file: everything it knows comes from etcd
	ctx := context.Background()

	// A route made through router A...
	if _, err := a.client.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{
		Name: "app-errors", Dataset: "app", Topic: "logs.app.errors",
		Conditions: []*routingv1.Condition{{Field: "log.level", Op: routingv1.Condition_OP_EQUALS, Value: "error"}},
	}}); err != nil {
		t.Fatal(err)
	}
	// ...routes router B's events, and its topic exists.
	off := int64(0)
	polltest.True(t, "router B routing by the new route", 15*time.Second, func() bool {
		off += 10
		if _, err := b.client.IngestBatch(ctx, &routingv1.Batch{Dataset: "app", Lines: []*routingv1.RawLine{rawLine(off, "level=error msg=boom")}}); err != nil {
			return false
		}
		return len(e.events("logs.app.errors")) > 0
	})

	// A parser changed through router B is used by router A.
	if _, err := b.client.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset:    &routingv1.Dataset{Name: "app", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"parser"}},
	}); err != nil {
		t.Fatal(err)
	}
	polltest.True(t, "router A parsing app as JSON", 15*time.Second, func() bool {
		off += 10
		ack, err := a.client.IngestBatch(ctx, &routingv1.Batch{Dataset: "app", Lines: []*routingv1.RawLine{rawLine(off, `{"level":"info","msg":"json now"}`)}})
		return err == nil && ack.ParseFailures == 0
	})

	// A dataset deleted through A is gone for B too (and B makes it again on
	// first use: auto-create).
	if _, err := a.client.DeleteRoute(ctx, &routingv1.DeleteRouteRequest{Name: "app-errors"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.GetRoute(ctx, &routingv1.GetRouteRequest{Name: "app-errors"}); status.Code(err) != codes.NotFound {
		t.Fatalf("route still visible through B: %v", err)
	}
}

func TestBadConfigStopsStartUp(t *testing.T) {
	path := writeConfig(t, "datasets:\n  - name: x\n    parser: {format: regex}\n")
	err := servertest.SetupError(t, binary(), "--admin-addr=", "--config="+path)
	if err == nil || !strings.Contains(err.Error(), "datasets[0].parser.pattern") {
		t.Fatalf("setup: %v; want the file's error naming the field", err)
	}
}

// TestAppFlags: the router binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	servertest.AppFlags(t, binary().Bind, new(app.Flags).Bind)
}
