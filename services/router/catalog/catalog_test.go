package catalog

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	e := etcdtest.Start(t)
	return New(e.Client(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// wantFields checks that err is InvalidArgument naming exactly fields, in
// its message and its BadRequest detail.
func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v; want InvalidArgument naming %v", err, fields)
	}
	var got []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				got = append(got, v.Field)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("fields %v, want %v (%s)", got, fields, st.Message())
	}
	for _, f := range fields {
		if !strings.Contains(st.Message(), f+": ") {
			t.Errorf("message %q does not name %s", st.Message(), f)
		}
	}
}

func TestDatasetValidation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		d      *routingv1.Dataset
		fields []string
	}{
		{&routingv1.Dataset{}, []string{"dataset.name"}},
		{&routingv1.Dataset{Name: "Nginx Access"}, []string{"dataset.name"}},
		{&routingv1.Dataset{Name: strings.Repeat("a", 101)}, []string{"dataset.name"}},
		{&routingv1.Dataset{Name: "x", Description: strings.Repeat("d", 1025)}, []string{"dataset.description"}},
		{&routingv1.Dataset{Name: "x", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX}}, []string{"dataset.parser.pattern"}},
		{&routingv1.Dataset{Name: "x", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "%{NOPE:x}"}}, []string{"dataset.parser.pattern"}},
		{&routingv1.Dataset{Name: "x", Parser: &routingv1.Parser{Timezone: "Nowhere/Land", TimestampLayout: "soon"}}, []string{"dataset.parser.timezone"}},
		{&routingv1.Dataset{Name: "x", Parser: &routingv1.Parser{TimestampLayout: "soon"}}, []string{"dataset.parser.timestamp_layout"}},
		{&routingv1.Dataset{Name: "x", Parser: &routingv1.Parser{Format: 42}}, []string{"dataset.parser.format"}},
		{&routingv1.Dataset{Name: "x", Topic: &routingv1.TopicSettings{
			Topic: "bad topic", Partitions: -1, ReplicationFactor: 40000, Retention: durationpb.New(-time.Hour), RetentionBytes: -5, Compression: "brotli",
		}}, []string{"dataset.topic.topic", "dataset.topic.partitions", "dataset.topic.replication_factor", "dataset.topic.retention", "dataset.topic.retention_bytes", "dataset.topic.compression"}},
	} {
		_, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: c.d})
		wantFields(t, err, c.fields...)
	}
	_, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{})
	wantFields(t, err, "dataset")
}

func TestDatasetCRUD(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	d, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{
		Name: "nginx.access", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_COMBINED},
		Topic: &routingv1.TopicSettings{Partitions: 6},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := &routingv1.TopicSettings{Topic: "logs.nginx.access", Partitions: 6, Retention: durationpb.New(7 * 24 * time.Hour), Compression: "zstd"}
	if !proto.Equal(d.Topic, want) || d.UpdateTime == nil {
		t.Fatalf("created with topic %v (update_time %v); want the defaults filled in: %v", d.Topic, d.UpdateTime, want)
	}
	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "nginx.access"}}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	got, err := s.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: "nginx.access"})
	if err != nil || !proto.Equal(got, d) {
		t.Fatalf("get: %v %v", got, err)
	}

	// A masked update changes only the named fields.
	up, err := s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset:    &routingv1.Dataset{Name: "nginx.access", Description: "front proxies", Topic: &routingv1.TopicSettings{Retention: durationpb.New(time.Hour), Partitions: 99}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description", "topic.retention"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Description != "front proxies" || up.Topic.Retention.AsDuration() != time.Hour || up.Topic.Partitions != 6 || up.Parser.Format != routingv1.Parser_FORMAT_COMBINED {
		t.Fatalf("after the masked update: %v", up)
	}
	_, err = s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset: &routingv1.Dataset{Name: "nginx.access"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"topic.colour"}},
	})
	wantFields(t, err, "update_mask")
	_, err = s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset:    &routingv1.Dataset{Name: "nginx.access", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"parser.format"}},
	})
	wantFields(t, err, "dataset.parser.pattern")
	// An empty mask replaces the dataset, defaults applied as on create.
	up, err = s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{Dataset: &routingv1.Dataset{Name: "nginx.access", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON}}})
	if err != nil || up.Description != "" || up.Parser.Format != routingv1.Parser_FORMAT_JSON || up.Topic.Topic != "logs.nginx.access" {
		t.Fatalf("replace: %v %v", up, err)
	}
	if _, err := s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{Dataset: &routingv1.Dataset{Name: "nope"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("update of a missing dataset: %v", err)
	}
	if _, err := s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{Dataset: &routingv1.Dataset{}}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "dataset.name") {
		t.Fatalf("update without a name: %v", err)
	}

	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.ListDatasets(ctx, &routingv1.ListDatasetsRequest{})
	if err != nil || len(l.Datasets) != 2 || l.Datasets[0].Name != "app" || l.Datasets[1].Name != "nginx.access" {
		t.Fatalf("list: %v %v", l, err)
	}

	// A dataset in use by a route cannot go.
	if _, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "r", Dataset: "app", Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDataset(ctx, &routingv1.DeleteDatasetRequest{Name: "app"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete of a dataset in use: %v", err)
	}
	if _, err := s.DeleteDataset(ctx, &routingv1.DeleteDatasetRequest{Name: "nginx.access"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: "nginx.access"}); status.Code(err) != codes.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.DeleteDataset(ctx, &routingv1.DeleteDatasetRequest{Name: "nginx.access"}); status.Code(err) != codes.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.GetDataset(ctx, &routingv1.GetDatasetRequest{}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "name") {
		t.Fatalf("get without a name: %v", err)
	}
}

func TestRouteCRUD(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{
		Name: "Bad", Topic: "a topic", Conditions: []*routingv1.Condition{
			{Field: "log.level", Op: routingv1.Condition_OP_EQUALS, Value: "error"},
			{Field: "", Op: routingv1.Condition_OP_MATCHES, Value: "("},
			{Field: "x"},
		},
	}})
	wantFields(t, err, "route.name", "route.dataset", "route.topic", "route.conditions[1].field", "route.conditions[1].value", "route.conditions[2].op")
	_, err = s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "r", Dataset: "nope", Topic: "t"}})
	wantFields(t, err, "route.dataset")

	r := &routingv1.Route{Name: "errors", Dataset: "app", Topic: "logs.app.errors", Priority: 10, Copy: true,
		Conditions: []*routingv1.Condition{{Field: "log.level", Op: routingv1.Condition_OP_EQUALS, Value: "error"}}}
	if _, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: r}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: r}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	up, err := s.UpdateRoute(ctx, &routingv1.UpdateRouteRequest{
		Route: &routingv1.Route{Name: "errors", Priority: 1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"priority", "copy"}},
	})
	if err != nil || up.Priority != 1 || up.Copy || up.Topic != "logs.app.errors" || len(up.Conditions) != 1 {
		t.Fatalf("masked update: %v %v", up, err)
	}
	_, err = s.UpdateRoute(ctx, &routingv1.UpdateRouteRequest{
		Route: &routingv1.Route{Name: "errors", Dataset: "gone"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"dataset"}},
	})
	wantFields(t, err, "route.dataset")

	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "web-all", Dataset: "web", Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.ListRoutes(ctx, &routingv1.ListRoutesRequest{Dataset: "app"})
	if err != nil || len(l.Routes) != 1 || l.Routes[0].Name != "errors" {
		t.Fatalf("list of app's routes: %v %v", l, err)
	}
	if _, err := s.DeleteRoute(ctx, &routingv1.DeleteRouteRequest{Name: "errors"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRoute(ctx, &routingv1.GetRouteRequest{Name: "errors"}); status.Code(err) != codes.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestEnsureDataset(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	d, err := s.EnsureDataset(ctx, "new.logs")
	if err != nil || d.Topic.Topic != "logs.new.logs" || d.Parser.GetFormat() != routingv1.Parser_FORMAT_UNSPECIFIED {
		t.Fatalf("EnsureDataset: %v %v", d, err)
	}
	if _, err := s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{
		Dataset: &routingv1.Dataset{Name: "new.logs", Description: "mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.EnsureDataset(ctx, "new.logs"); err != nil || d.Description != "mine" {
		t.Fatalf("an existing dataset is returned as it is: %v %v", d, err)
	}
}

func TestWatchFollowsChanges(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps := make(chan *Snapshot, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(snap *Snapshot) { snaps <- snap }) }()
	next := func() *Snapshot {
		t.Helper()
		select {
		case snap := <-snaps:
			return snap
		case <-time.After(10 * time.Second):
			t.Fatal("no snapshot")
			return nil
		}
	}
	if first := next(); len(first.Datasets) != 0 {
		t.Fatalf("first snapshot: %v", first)
	}
	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	withApp := next()
	if withApp.Datasets["app"].GetTopic().GetTopic() != "logs.app" {
		t.Fatalf("after create: %v", withApp)
	}
	if _, err := s.CreateRoute(ctx, &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "r", Dataset: "app", Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	if snap := next(); snap.Routes["r"] == nil || snap.Revision <= withApp.Revision {
		t.Fatalf("after route create: %v", snap)
	}
	if _, err := s.DeleteRoute(ctx, &routingv1.DeleteRouteRequest{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	if snap := next(); len(snap.Routes) != 0 || len(snap.Datasets) != 1 {
		t.Fatalf("after route delete: %v", snap)
	}
	if len(withApp.Routes) != 0 {
		t.Fatal("a snapshot changed after it was handed out")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
