package harness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/e2e/harness"
)

// Kafka takes acks=all produces from the test process, keeps them across a stop and
// start at the same address, and serves containers on the network by alias.
func TestStartKafka(t *testing.T) {
	nw := harness.Network(t)
	k := harness.StartKafka(t, nw)
	const topic = "e2e-harness"

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin := kadm.NewClient(newKafkaClient(t, k))
	resp, err := admin.CreateTopic(ctx, 2, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	produce(ctx, t, k, topic, 0, 5)
	if got := consumeAll(ctx, t, k, topic, 5); len(got) != 5 {
		t.Fatalf("before restart: consumed %v", got)
	}

	k.Stop(t)
	k.Start(t)

	produce(ctx, t, k, topic, 5, 10)
	got := consumeAll(ctx, t, k, topic, 10)
	for i := range 10 {
		if !got[fmt.Sprintf("record-%d", i)] {
			t.Fatalf("after restart: record-%d missing from %v", i, got)
		}
	}

	// A container on the network reads the same records through kafka:9092 (the
	// metadata it gets back must advertise that listener, not the host's).
	c := harness.Start(t, nw, nil, testcontainers.ContainerRequest{
		Image:      harness.KafkaImage,
		Entrypoint: []string{"/opt/kafka/bin/kafka-class"},
		Cmd: []string{"org.apache.kafka.tools.consumer.ConsoleConsumer",
			"--bootstrap-server", k.NetworkBrokers[0], "--topic", topic,
			"--from-beginning", "--max-messages", "10", "--timeout-ms", "60000"},
		WaitingFor: wait.ForExit().WithExitTimeout(2 * time.Minute),
	})
	out := harness.Logs(t, c)
	for i := range 10 {
		if !strings.Contains(out, fmt.Sprintf("record-%d\n", i)) {
			t.Fatalf("console consumer on the network at %v: record-%d missing:\n%s", k.NetworkBrokers, i, out)
		}
	}
}

func newKafkaClient(t *testing.T, k *harness.Kafka, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes record-from .. record-(to-1) with acks=all (idempotent).
func produce(ctx context.Context, t *testing.T, k *harness.Kafka, topic string, from, to int) {
	t.Helper()
	cl := newKafkaClient(t, k, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("record-%d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
}

// consumeAll reads the topic from the start until it has n records (values).
func consumeAll(ctx context.Context, t *testing.T, k *harness.Kafka, topic string, n int) map[string]bool {
	t.Helper()
	cl := newKafkaClient(t, k, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	got := map[string]bool{}
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	return got
}

// OpenSearch indexes with _bulk and finds the documents with _search, keeps them
// across a stop and start at the same URL, and answers containers on the network by
// alias.
func TestStartOpenSearch(t *testing.T) {
	nw := harness.Network(t)
	o := harness.StartOpenSearch(t, nw)
	const index = "logs-e2e-2026.01.02"

	bulk := fmt.Sprintf(`{"index":{"_index":%q,"_id":"a"}}
{"@timestamp":"2026-01-02T03:04:05Z","message":"hello from the harness"}
{"index":{"_index":%q,"_id":"b"}}
{"@timestamp":"2026-01-02T03:04:06Z","message":"another line"}
`, index, index)
	var br struct {
		Errors bool `json:"errors"`
	}
	call(t, http.MethodPost, o.URL+"/_bulk?refresh=true", "application/x-ndjson", bulk, &br)
	if br.Errors {
		t.Fatal("bulk reported errors")
	}
	search := func() []string {
		var sr struct {
			Hits struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		call(t, http.MethodPost, o.URL+"/logs-e2e-*/_search", "application/json",
			`{"query":{"match":{"message":"harness"}}}`, &sr)
		var ids []string
		for _, h := range sr.Hits.Hits {
			ids = append(ids, h.ID)
		}
		return ids
	}
	if ids := search(); len(ids) != 1 || ids[0] != "a" {
		t.Fatalf("search = %v, want [a]", ids)
	}

	o.Stop(t)
	o.Start(t)
	if ids := search(); len(ids) != 1 || ids[0] != "a" {
		t.Fatalf("after restart: search = %v, want [a]", ids)
	}

	// A neighbour on the network counts the documents by alias (bash's /dev/tcp: the
	// base image has no HTTP client).
	probe := harness.Start(t, nw, nil, testcontainers.ContainerRequest{
		Image: harness.BaseImage,
		Cmd: []string{"bash", "-c", `exec 3<>/dev/tcp/` + harness.OpenSearchAlias + `/9200 && ` +
			`printf 'GET /` + index + `/_count HTTP/1.0\r\nHost: opensearch\r\n\r\n' >&3 && cat <&3`},
		WaitingFor: wait.ForExit().WithExitTimeout(30 * time.Second),
	})
	if out := harness.Logs(t, probe); !strings.Contains(out, `"count":2`) {
		t.Fatalf("opensearch seen from the network at %s: %q", o.NetworkURL, out)
	}
}

func call(t *testing.T, method, url, contentType, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}
