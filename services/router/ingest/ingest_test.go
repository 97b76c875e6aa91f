package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/parse"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

const accessLine = `203.0.113.7 - - [21/Oct/2015:16:29:00 +0200] "GET /api/users HTTP/1.1" 502 12 "-" "curl/7.68.0"`

func TestIngestBatchParsesRoutesAndProduces(t *testing.T) {
	h := newHarness(t, nil)
	ack, err := h.client.IngestBatch(context.Background(), batch(7, "web",
		line(0, accessLine),
		line(120, "not an access log line"),
		line(200, "caf\xe9 \x00 binary"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 7 || ack.Accepted != 3 || ack.ParseFailures != 2 {
		t.Fatalf("ack = %v, want sequence 7, 3 accepted, 2 parse failures", ack)
	}
	recs := h.consume("logs.web", 3)
	byOffset := map[int64]map[string]any{}
	for _, r := range recs {
		e, err := event.Unmarshal(r.Value)
		if err != nil {
			t.Fatalf("record value: %v\n%s", err, r.Value)
		}
		if string(r.Key) != e.Id || e.Id != event.ID(e.Source) {
			t.Errorf("key %q, id %q: both must be event.ID(source)", r.Key, e.Id)
		}
		headers := map[string]string{}
		for _, hd := range r.Headers {
			headers[hd.Key] = string(hd.Value)
		}
		if headers[event.HeaderDataset] != "web" || headers[event.HeaderTime] != event.FormatTime(e.Timestamp.AsTime()) {
			t.Errorf("headers %v for @timestamp %s", headers, e.Timestamp.AsTime())
		}
		if e.Dataset != "web" || e.Labels["env"] != "prod" || e.Ingested == nil || e.Source.GetHost() != "node-1" {
			t.Errorf("event misses the batch's context: %v", e)
		}
		byOffset[e.Source.Offset] = map[string]any{"time": e.Timestamp.AsTime(), "tags": e.Tags, "message": e.Message, "fields": e.Fields.AsMap()}
	}
	if got := byOffset[0]; !got["time"].(time.Time).Equal(time.Date(2015, 10, 21, 14, 29, 0, 0, time.UTC)) || got["fields"].(map[string]any)["http.response.status_code"] != 502.0 {
		t.Errorf("access line: %v", got)
	}
	if got := byOffset[120]; got["message"] != "not an access log line" || !slices.Contains(got["tags"].([]string), parse.TagParseFailure) ||
		!got["time"].(time.Time).Equal(time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("a line that does not parse must be kept whole, tagged, at its read time: %v", got)
	}
	if got := byOffset[200]; !slices.Contains(got["tags"].([]string), parse.TagInvalidUTF8) {
		t.Errorf("binary line: %v", got)
	}
	for _, c := range []struct {
		name string
		vec  *prometheus.CounterVec
		want float64
	}{{"batches_acked_total", h.g.m.acks, 1}, {"lines_received_total", h.g.m.lines, 3}, {"parse_failures_total", h.g.m.parseFailures, 2}} {
		if got := testutil.ToFloat64(c.vec.WithLabelValues("web")); got != c.want {
			t.Errorf("%s{dataset=web} = %v, want %v", c.name, got, c.want)
		}
	}
	if got := testutil.ToFloat64(h.g.m.records.WithLabelValues("logs.web")); got != 3 {
		t.Errorf("records_produced_total{topic=logs.web} = %v", got)
	}
	if got := testutil.ToFloat64(h.g.m.inflightRecords); got != 0 {
		t.Errorf("inflight_records = %v after the ack", got)
	}
}

func TestRoutesWithConditionsAndCopy(t *testing.T) {
	h := newHarness(t, nil)
	b := batch(1, "app",
		line(0, `{"level":"info","msg":"ok"}`),                  // no route: logs.app
		line(10, `{"level":"error","msg":"boom"}`),              // app-errors, copied: logs.app.errors + logs.app
		line(20, `{"level":"warn","msg":"x","audit":true}`),     // app-audit (env=prod from the labels): logs.app.audit only
		line(30, `{"level":"fatal","msg":"y","audit":"yes"}`),   // both match; app-errors has the lower priority
		line(40, `{"level":"ERROR","msg":"lower-cased level"}`), // log.level is normalised
	)
	if _, err := h.client.IngestBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	offsets := func(topic string, n int) []int64 {
		var out []int64
		for _, r := range h.consume(topic, n) {
			e, _ := event.Unmarshal(r.Value)
			out = append(out, e.Source.Offset)
		}
		slices.Sort(out)
		return out
	}
	for topic, want := range map[string][]int64{
		"logs.app":        {0, 10, 30, 40},
		"logs.app.errors": {10, 30, 40},
		"logs.app.audit":  {20},
	} {
		if got := offsets(topic, len(want)); !slices.Equal(got, want) {
			t.Errorf("%s holds offsets %v, want %v", topic, got, want)
		}
	}
}

func TestStreamKeepsManyBatchesInFlight(t *testing.T) {
	h := newHarness(t, nil)
	st, err := h.client.Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const batches, perBatch = 40, 25
	release, held := h.pauseProduce()
	for s := range batches {
		var lines []*routingv1.RawLine
		for i := range perBatch {
			lines = append(lines, line(int64(s*perBatch+i)*100, fmt.Sprintf(`{"msg":"line %d"}`, i)))
		}
		if err := st.Send(&routingv1.IngestRequest{Batch: batch(uint64(s), "app", lines...)}); err != nil {
			t.Fatal(err)
		}
	}
	<-held
	// Every batch is sent before Kafka acknowledged anything: more than one
	// is in flight at once, and none is acked early.
	release()
	seen := map[uint64]bool{}
	for range batches {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Ack.Accepted != perBatch || seen[resp.Ack.Sequence] {
			t.Fatalf("ack %v (seen before: %v)", resp.Ack, seen[resp.Ack.Sequence])
		}
		seen[resp.Ack.Sequence] = true
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("after the agent closes and every batch is acked the stream ends cleanly; got %v", err)
	}
	h.consume("logs.app", batches*perBatch)
}

func TestNoAckBeforeKafkaAcks(t *testing.T) {
	h := newHarness(t, nil)
	st, release := h.sendHeld()
	acks := make(chan *routingv1.Ack, 1)
	go func() {
		if resp, err := st.Recv(); err == nil {
			acks <- resp.Ack
		}
	}()
	select {
	case a := <-acks:
		t.Fatalf("acked %v while Kafka holds the produce request", a)
	case <-time.After(500 * time.Millisecond):
	}
	if got := testutil.ToFloat64(h.g.m.inflightRecords); got != 1 {
		t.Errorf("inflight_records = %v while held, want 1", got)
	}
	release()
	select {
	case a := <-acks:
		if a.Sequence != 1 {
			t.Fatalf("ack %v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack after Kafka acknowledged")
	}
}

func TestProduceFailureIsNeverAcked(t *testing.T) {
	h := newHarness(t, nil)
	st, err := h.client.Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A batch that gets through first.
	if err := st.Send(&routingv1.IngestRequest{Batch: batch(1, "web", line(0, accessLine))}); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.Ack.Sequence != 1 {
		t.Fatalf("first batch: %v %v", resp, err)
	}
	h.kafka.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.InvalidRecord, Count: -1})
	if err := st.Send(&routingv1.IngestRequest{Batch: batch(2, "web", line(100, accessLine), line(200, accessLine))}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err == nil {
		t.Fatalf("acked %v although Kafka refused the records", resp.Ack)
	}
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "batch 2 of web") {
		t.Fatalf("stream ended with %v; want Unavailable naming batch 2", err)
	}
	if _, err := h.client.IngestBatch(context.Background(), batch(3, "web", line(300, accessLine))); status.Code(err) != codes.Unavailable {
		t.Fatalf("IngestBatch with Kafka refusing: %v, want Unavailable", err)
	}
	if got := testutil.ToFloat64(h.g.m.batchFailures.WithLabelValues("web")); got != 2 {
		t.Errorf("batches_failed_total = %v, want 2", got)
	}
}

func TestDeliveryTimeoutFailsTheBatch(t *testing.T) {
	h := newHarness(t, func(_ *Options, pc *ProducerConfig) { pc.DeliveryTimeout = time.Second })
	h.kafka.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	start := time.Now()
	_, err := h.client.IngestBatch(context.Background(), batch(1, "web", line(0, accessLine)))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v; want Unavailable once the delivery timeout passes", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestBatchValidation(t *testing.T) {
	h := newHarness(t, func(o *Options, _ *ProducerConfig) { o.AutoCreate = false })
	noSource := line(0, "x")
	noSource.Source = nil
	for _, c := range []struct {
		b     *routingv1.Batch
		field string
	}{
		{batch(1, ""), "dataset"},
		{batch(1, "Bad Name"), "dataset"},
		{batch(1, "unknown"), "dataset: no dataset named \"unknown\""},
		{batch(1, "web", line(0, "x"), noSource), "lines[1].source"},
	} {
		_, err := h.client.IngestBatch(context.Background(), c.b)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.field) {
			t.Errorf("dataset %q: %v; want InvalidArgument naming %s", c.b.Dataset, err, c.field)
		}
	}
	st, _ := h.client.Ingest(context.Background())
	st.Send(&routingv1.IngestRequest{Batch: batch(1, "web", line(0, "x"))})
	st.Send(&routingv1.IngestRequest{Batch: batch(2, "Bad Name")})
	if resp, err := st.Recv(); err != nil || resp.GetAck().GetSequence() != 1 {
		t.Fatalf("first batch: %v %v", resp, err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "batch.dataset: message 2 of the stream (batch sequence 2)") {
		t.Errorf("stream with a bad second batch: %v; want InvalidArgument naming the field and the message", err)
	}
}

func TestUnknownDatasetIsCreatedOnFirstUse(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.client.IngestBatch(context.Background(), batch(1, "new.logs", line(0, "2015-10-21 16:29:00 hello"))); err != nil {
		t.Fatal(err)
	}
	recs := h.consume("logs.new.logs", 1)
	e, _ := event.Unmarshal(recs[0].Value)
	if !e.Timestamp.AsTime().Equal(time.Date(2015, 10, 21, 16, 29, 0, 0, time.UTC)) {
		t.Errorf("raw parser: @timestamp %s", e.Timestamp.AsTime())
	}
	if _, err := kadm.NewClient(h.producer).ListTopics(context.Background(), "logs.new.logs"); err != nil {
		t.Fatal(err)
	}
}

func TestOversizedRecordIsCutToFit(t *testing.T) {
	h := newHarness(t, func(_ *Options, pc *ProducerConfig) { pc.BatchMaxBytes = 8192 })
	big := `{"msg":"` + strings.Repeat(`é\"`, 10000) + `"}`
	if _, err := h.client.IngestBatch(context.Background(), batch(1, "app", line(0, big))); err != nil {
		t.Fatal(err)
	}
	r := h.consume("logs.app", 1)[0]
	if len(r.Value) > 8192-recordOverhead {
		t.Errorf("record of %d bytes", len(r.Value))
	}
	e, err := event.Unmarshal(r.Value)
	if err != nil || !slices.Contains(e.Tags, parse.TagTruncated) || !strings.HasPrefix(e.Message, "é\"é\"") {
		t.Fatalf("cut event: %v %v", e, err)
	}
}

func TestDrainFinishesInFlightBatches(t *testing.T) {
	h := newHarness(t, nil)
	st, release := h.sendHeld()
	drained := make(chan error, 1)
	go func() { drained <- h.g.Drain(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) with a batch in flight", err)
	default:
	}
	if _, err := h.client.IngestBatch(context.Background(), batch(2, "web", line(100, accessLine))); status.Code(err) != codes.Unavailable {
		t.Errorf("IngestBatch while draining: %v, want Unavailable", err)
	}
	release()
	resp, err := st.Recv()
	if err != nil || resp.Ack.Sequence != 1 {
		t.Fatalf("the in-flight batch must still be acked: %v %v", resp, err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream after the drain: %v, want Unavailable", err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

func TestNewClientRefusesUnknownCompression(t *testing.T) {
	if _, err := NewClient(ProducerConfig{Brokers: []string{"localhost:9092"}, Compression: "brotli"}); err == nil || !strings.Contains(err.Error(), "brotli") {
		t.Fatalf("compression brotli: err %v, want a refusal naming it", err)
	}
	for name := range Compressions {
		cl, err := NewClient(ProducerConfig{Brokers: []string{"localhost:9092"}, Compression: name})
		if err != nil {
			t.Fatalf("compression %s: %v", name, err)
		}
		cl.Close()
	}
}
