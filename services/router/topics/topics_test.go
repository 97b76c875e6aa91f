package topics

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/durationpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func newKafka(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// kgo caches metadata for MetadataMinAge (5s): new topics would show late.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, kadm.NewClient(cl)
}

func newReconciler(t *testing.T, adm *kadm.Client) *Reconciler {
	t.Helper()
	r, err := New(adm, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// state is what Kafka says of a topic: partitions, replication factor and
// the configs the tests care about.
func state(t *testing.T, adm *kadm.Client, topic string) (int, int, map[string]string) {
	t.Helper()
	ctx := context.Background()
	// As on a real cluster, a new topic may show a moment after its creation.
	var details kadm.TopicDetails
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		details, err = adm.ListTopics(ctx, topic)
		if err == nil && details[topic].Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %v %v", topic, err, details[topic].Err)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]string{}
	for _, c := range rc.Configs {
		switch c.Key {
		case "retention.ms", "retention.bytes", "compression.type":
			configs[c.Key] = c.MaybeValue()
		}
	}
	return len(details[topic].Partitions), details[topic].Partitions.NumReplicas(), configs
}

func TestReconcileCreatesAltersAndNeverDeletes(t *testing.T) {
	_, adm := newKafka(t, kfake.SeedTopics(1, "unmanaged"))
	r := newReconciler(t, adm)
	ctx := context.Background()
	week := SpecOf("logs.web", &routingv1.TopicSettings{Partitions: 3, ReplicationFactor: 2, Retention: durationpb.New(7 * 24 * time.Hour), RetentionBytes: 1 << 30, Compression: "zstd"})
	brokerDefaults := SpecOf("logs.app", &routingv1.TopicSettings{})
	if err := r.Reconcile(ctx, []Spec{week, brokerDefaults}); err != nil {
		t.Fatal(err)
	}
	parts, rf, configs := state(t, adm, "logs.web")
	if parts != 3 || rf != 2 || configs["retention.ms"] != "604800000" || configs["retention.bytes"] != "1073741824" || configs["compression.type"] != "zstd" {
		t.Fatalf("logs.web created with %d partitions, replication %d, %v", parts, rf, configs)
	}
	if parts, _, _ := state(t, adm, "logs.app"); parts < 1 {
		t.Fatalf("logs.app: %d partitions", parts)
	}
	if got := testutil.ToFloat64(r.m.created); got != 2 {
		t.Errorf("topics_created_total = %v", got)
	}

	// Nothing to do the second time.
	if err := r.Reconcile(ctx, []Spec{week, brokerDefaults}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.m.altered); got != 0 {
		t.Errorf("an up-to-date topic was altered %v times", got)
	}

	// The catalog changes: retention, compression and partitions follow;
	// retention.bytes, unchanged, is left alone.
	week = SpecOf("logs.web", &routingv1.TopicSettings{Partitions: 6, ReplicationFactor: 2, Retention: durationpb.New(time.Hour), RetentionBytes: 1 << 30, Compression: "lz4"})
	if err := r.Reconcile(ctx, []Spec{week}); err != nil {
		t.Fatal(err)
	}
	parts, _, configs = state(t, adm, "logs.web")
	if parts != 6 || configs["retention.ms"] != "3600000" || configs["compression.type"] != "lz4" || configs["retention.bytes"] != "1073741824" {
		t.Fatalf("after the change: %d partitions, %v", parts, configs)
	}
	if got := testutil.ToFloat64(r.m.altered); got != 2 {
		t.Errorf("topic_configs_altered_total = %v, want 2 (retention.ms, compression.type)", got)
	}

	// Fewer partitions asked: nothing is removed; topics not in the
	// catalog are left alone.
	week.Partitions = 2
	if err := r.Reconcile(ctx, []Spec{week}); err != nil {
		t.Fatal(err)
	}
	if parts, _, _ := state(t, adm, "logs.web"); parts != 6 {
		t.Errorf("partitions went from 6 to %d", parts)
	}
	if parts, _, _ := state(t, adm, "unmanaged"); parts != 1 {
		t.Error("a topic outside the catalog changed")
	}
}

func TestReconcileReportsErrors(t *testing.T) {
	_, adm := newKafka(t)
	r := newReconciler(t, adm)
	err := r.Reconcile(context.Background(), []Spec{{Name: "logs.x", ReplicationFactor: 5}})
	if err == nil {
		t.Fatal("a replication factor above the broker count must fail")
	}
	if got := testutil.ToFloat64(r.m.errors); got != 1 {
		t.Errorf("topic_reconcile_errors_total = %v", got)
	}
}

func TestRunReconcilesWhatIsWanted(t *testing.T) {
	_, adm := newKafka(t)
	r := newReconciler(t, adm)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, time.Hour) }()
	r.Want(Desired(
		map[string]*routingv1.Dataset{"web": {Name: "web", Topic: &routingv1.TopicSettings{Topic: "logs.web", Compression: "gzip"}}},
		map[string]*routingv1.Route{"errors": {Name: "errors", Dataset: "web", Topic: "logs.web.errors"}},
	))
	deadline := time.Now().Add(10 * time.Second)
	for {
		details, err := adm.ListTopics(ctx, "logs.web", "logs.web.errors")
		if err == nil && details["logs.web"].Err == nil && details["logs.web.errors"].Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics not created: %v %v", details, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, configs := state(t, adm, "logs.web.errors"); configs["compression.type"] != "gzip" {
		t.Errorf("a route's topic takes its dataset's settings: %v", configs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDesired(t *testing.T) {
	ds := map[string]*routingv1.Dataset{
		"a": {Name: "a", Topic: &routingv1.TopicSettings{Topic: "shared", Partitions: 1}},
		"b": {Name: "b", Topic: &routingv1.TopicSettings{Topic: "shared", Partitions: 9}},
	}
	rs := map[string]*routingv1.Route{
		"r":      {Name: "r", Dataset: "b", Topic: "routed"},
		"orphan": {Name: "orphan", Dataset: "gone", Topic: "nowhere"},
	}
	specs := Desired(ds, rs)
	if len(specs) != 2 || specs[0].Name != "routed" || specs[0].Partitions != 9 || specs[1].Name != "shared" || specs[1].Partitions != 1 {
		t.Fatalf("Desired = %+v", specs)
	}
}
