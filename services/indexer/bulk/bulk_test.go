package bulk_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/kafkatest"
	"github.com/hindsight-dev/hindsight/internal/metricset/metrictest"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/services/indexer/bulk"
	"github.com/hindsight-dev/hindsight/services/indexer/deadletter"
)

var day0 = time.Date(2015, 10, 21, 0, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// indexer runs the indexer from kafka into search until the test ends (or
// stop is called), and returns its metrics.
func indexer(t *testing.T, kafka *kafkatest.Cluster, search *fakeSearch, group string) (reg *prometheus.Registry, stop func()) {
	t.Helper()
	reg = prometheus.NewRegistry()
	client, err := bulk.NewClient([]string{search.srv.URL}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	producer, err := kgo.NewClient(kgo.SeedBrokers(kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	opt := bulk.Options{Docs: 25, Bytes: 1 << 20, Interval: 20 * time.Millisecond, Log: quiet(), Registerer: reg}
	ix, err := bulk.New(client, deadletter.New(producer, deadletter.DefaultTopic), opt)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kafkaconsume.New(kafkaconsume.Config{
		Brokers: kafka.Brokers(), Group: group, TopicsRegex: kafkaconsume.DefaultTopicsRegex, MaxPollRecords: opt.Docs,
		Tick: 20 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, LagInterval: 50 * time.Millisecond,
	}, ix, "indexer", quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	stop = kafkatest.Run(t, cons.Run)
	return reg, stop
}

// metric sums every series of a metric family.
// produce writes n events of dataset to topic, spread over days and
// partitions; msg(i) is event i's message. It returns the event ids with
// the index each belongs in.
func produce(kafka *kafkatest.Cluster, topic, dataset string, from, n, days, parts int, msg func(i int) string) map[string]string {
	want := map[string]string{}
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("%s-%05d", dataset, i)
		ts := day0.Add(time.Duration(i%days)*24*time.Hour + time.Duration(i)*time.Second)
		recs = append(recs, kafkatest.Record(topic, int32(i%parts), id, dataset, ts, kafkatest.Doc(id, dataset, ts, msg(i))))
		want[id] = index.DailyName(dataset, ts)
	}
	kafka.Produce(recs...)
	return want
}

func hello(int) string { return "hello" }

func sameIDs(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d documents indexed, want %d", len(got), len(want))
	}
	for id, index := range want {
		if got[id] != index {
			t.Fatalf("document %s is in index %q, want %q", id, got[id], index)
		}
	}
}

func TestIndexesIntoDailyIndicesByIDOnce(t *testing.T) {
	kafka := kafkatest.New(t, map[string]int32{"logs.web": 2, "logs.db": 1})
	search := newFakeSearch(t)
	want := produce(kafka, "logs.web", "nginx.access", 0, 90, 3, 2, hello)
	for id, index := range produce(kafka, "logs.db", "DB/slow", 0, 10, 1, 1, hello) {
		want[id] = index
	}
	_, stop := indexer(t, kafka, search, "indexer")
	kafka.WaitCaughtUp("indexer", 10*time.Second, "logs.web", "logs.db")
	stop()
	sameIDs(t, search.idsIn("logs-"), want)
	if got := len(search.idsIn("logs-nginx.access-2015.10.23")); got != 30 {
		t.Fatalf("logs-nginx.access-2015.10.23 holds %d documents, want 30", got)
	}
	if got := len(search.idsIn("logs-db_slow-2015.10.21")); got != 10 {
		t.Fatalf("logs-db_slow-2015.10.21 holds %d documents, want 10", got)
	}

	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]struct {
					Type       string `json:"type"`
					Properties map[string]struct {
						Type string `json:"type"`
					} `json:"properties"`
				} `json:"properties"`
				DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
			} `json:"mappings"`
		} `json:"template"`
	}
	search.mu.Lock()
	err := json.Unmarshal(search.template, &tmpl)
	search.mu.Unlock()
	if err != nil {
		t.Fatalf("index template: %v", err)
	}
	p := tmpl.Template.Mappings.Properties
	if fmt.Sprint(tmpl.IndexPatterns) != "[logs-*]" || p["@timestamp"].Type != "date_nanos" || p["message"].Type != "text" ||
		p["data_stream"].Properties["dataset"].Type != "keyword" || p["log"].Properties["level"].Type != "keyword" ||
		p["host"].Properties["name"].Type != "keyword" || p["event"].Properties["id"].Type != "keyword" ||
		len(tmpl.Template.Mappings.DynamicTemplates) == 0 {
		t.Fatalf("index template = %s", search.template)
	}

	// Another group reads everything again: the same ids, no new documents.
	indexer(t, kafka, search, "indexer-again")
	kafka.WaitCaughtUp("indexer-again", 10*time.Second, "logs.web", "logs.db")
	sameIDs(t, search.idsIn("logs-"), want)
}

func TestRetriesBusyClusterUntilIndexed(t *testing.T) {
	kafka := kafkatest.New(t, map[string]int32{"logs.web": 1})
	search := newFakeSearch(t)
	search.set(func(f *fakeSearch) {
		f.requestErrors = []int{429, 503} // the whole request, twice
		f.itemErrors = 7                  // then single documents
	})
	want := produce(kafka, "logs.web", "web", 0, 50, 1, 1, hello)
	reg, _ := indexer(t, kafka, search, "indexer")
	kafka.WaitCaughtUp("indexer", 10*time.Second, "logs.web")
	sameIDs(t, search.idsIn("logs-"), want)
	if got := metrictest.Sum(t, reg, "hindsight_indexer_docs_indexed_total", nil); got != 50 {
		t.Fatalf("docs_indexed_total = %v, want 50", got)
	}
	// The two failed requests carried the first batch (25 documents each
	// time), then 7 documents failed one by one.
	if got := metrictest.Sum(t, reg, "hindsight_indexer_doc_retries_total", nil); got != 2*25+7 {
		t.Fatalf("doc_retries_total = %v, want 57", got)
	}
	if got := metrictest.Sum(t, reg, "hindsight_indexer_dead_letters_total", nil); got != 0 {
		t.Fatalf("dead_letters_total = %v", got)
	}
}

func TestRejectedDocumentsGoToTheDeadLetterTopic(t *testing.T) {
	kafka := kafkatest.New(t, map[string]int32{"logs.web": 1})
	search := newFakeSearch(t)
	search.set(func(f *fakeSearch) {
		f.rejectIf = func(doc []byte) bool { return strings.Contains(string(doc), "bad status") }
	})
	msg := func(i int) string {
		if i%10 == 3 {
			return "bad status"
		}
		return "fine"
	}
	want := produce(kafka, "logs.web", "web", 0, 40, 1, 1, msg)
	// And a record that is not a JSON document at all.
	broken := kafkatest.Record("logs.web", 0, "broken", "web", day0, []byte("{\n not json"))
	kafka.Produce(broken)
	reg, _ := indexer(t, kafka, search, "indexer")
	kafka.WaitCaughtUp("indexer", 10*time.Second, "logs.web")

	rejected := map[string]bool{"broken": true}
	for id := range want {
		var i int
		fmt.Sscanf(id, "web-%d", &i)
		if i%10 == 3 {
			rejected[id] = true
			delete(want, id)
		}
	}
	sameIDs(t, search.idsIn("logs-"), want)
	dead := kafka.Consume(deadletter.DefaultTopic, len(rejected), 5*time.Second)
	if len(dead) != len(rejected) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(rejected))
	}
	for _, r := range dead {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		id := string(r.Key)
		if !rejected[id] {
			t.Fatalf("dead letter for %s, which was indexed", id)
		}
		wantStatus, wantReason := "400", "mapper_parsing_exception: failed to parse field [http.response.status_code] of type [long] (caused by number_format_exception"
		if id == "broken" {
			wantStatus, wantReason = "0", "invalid JSON document"
		}
		if h[deadletter.HeaderStatus] != wantStatus || !strings.HasPrefix(h[deadletter.HeaderReason], wantReason) ||
			h[deadletter.HeaderIndex] != "logs-web-2015.10.21" || !strings.HasPrefix(h[deadletter.HeaderSource], "logs.web/0/") {
			t.Fatalf("dead letter %s headers: %v", id, h)
		}
		if h["hindsight.dataset"] != "web" {
			t.Fatalf("dead letter %s lost the original headers: %v", id, h)
		}
	}
	if got := metrictest.Sum(t, reg, "hindsight_indexer_dead_letters_total", nil); got != float64(len(rejected)) {
		t.Fatalf("dead_letters_total = %v, want %d", got, len(rejected))
	}
}

func TestClusterDownPausesThenCatchesUp(t *testing.T) {
	kafka := kafkatest.New(t, map[string]int32{"logs.web": 2})
	search := newFakeSearch(t)
	search.set(func(f *fakeSearch) { f.down = true })
	want := produce(kafka, "logs.web", "web", 0, 100, 2, 2, hello)
	reg, _ := indexer(t, kafka, search, "indexer")

	polltest.True(t, "fetching to pause", 15*time.Second, func() bool {
		return metrictest.Sum(t, reg, "hindsight_indexer_fetching_paused", nil) == 1 && metrictest.Sum(t, reg, "hindsight_indexer_flush_failures_total", nil) >= 3
	})
	if got := kafka.Committed("indexer")["logs.web"]; len(got) != 0 {
		t.Fatalf("committed %v while nothing was indexed", got)
	}
	polltest.True(t, "lag to show the backlog", 15*time.Second, func() bool { return metrictest.Sum(t, reg, "hindsight_indexer_consumer_lag", nil) == 100 })

	// More arrives during the outage; then the cluster comes back.
	for id, index := range produce(kafka, "logs.web", "web", 100, 100, 2, 2, hello) {
		want[id] = index
	}
	search.set(func(f *fakeSearch) { f.down = false })
	kafka.WaitCaughtUp("indexer", 20*time.Second, "logs.web")
	sameIDs(t, search.idsIn("logs-"), want)
	polltest.True(t, "fetching to resume and lag to reach 0", 15*time.Second, func() bool {
		return metrictest.Sum(t, reg, "hindsight_indexer_fetching_paused", nil) == 0 && metrictest.Sum(t, reg, "hindsight_indexer_consumer_lag", nil) == 0
	})
	if got := metrictest.Sum(t, reg, "hindsight_indexer_docs_indexed_total", nil); got != 200 {
		t.Fatalf("docs_indexed_total = %v, want 200", got)
	}
}
