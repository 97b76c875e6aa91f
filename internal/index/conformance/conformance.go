// Package conformance holds the query language to one meaning: the same
// events loaded into every backend, a table of searches, and a check that
// each backend returns the same events, in the same order, with the same
// totals, histogram and top values — and the same events the replay
// loader's own filter (query.Matches) keeps. The embedded engine runs it in
// its unit tests; e2e/conformance runs it against a real OpenSearch too.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// Day0 is the hour the events are spread over.
var Day0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type ev struct {
	dataset, service, level, host, msg string
	fields                             map[string]any
}

// events are varied on purpose: text and exact fields with the same words,
// a number field next to a string field holding digits, booleans, unicode,
// lists, labels, and values that differ only in case.
var events = []ev{
	{"nginx.access", "web", "info", "web-1", `10.0.0.1 - - "GET /api/users HTTP/1.1" 200 512 "curl/8.5"`, map[string]any{"http.response.status_code": 200, "http.request.method": "GET", "url.path": "/api/users", "source.ip": "10.0.0.1", "duration": 0.012, "cache.hit": true}},
	{"nginx.access", "web", "info", "web-1", `10.0.0.2 - - "GET /api/users/7 HTTP/1.1" 404 0 "Mozilla/5.0"`, map[string]any{"http.response.status_code": 404, "http.request.method": "GET", "url.path": "/api/users/7", "source.ip": "10.0.0.2", "duration": 0.003, "cache.hit": false}},
	{"nginx.access", "web", "error", "web-2", `10.0.0.3 - - "POST /api/orders HTTP/1.1" 500 17 "curl/8.5"`, map[string]any{"http.response.status_code": 500, "http.request.method": "POST", "url.path": "/api/orders", "source.ip": "10.0.0.3", "duration": 1.5}},
	{"nginx.access", "web", "warn", "web-2", `10.0.0.4 - - "GET /health HTTP/1.1" 503 0 "kube-probe/1.29"`, map[string]any{"http.response.status_code": 503, "http.request.method": "GET", "url.path": "/health", "source.ip": "10.0.0.4", "duration": 0.75, "tags": []any{"slow", "probe"}}},
	{"nginx.access", "web", "info", "web-1", `10.0.0.5 - - "DELETE /api/orders/9 HTTP/1.1" 204 0 "curl/8.5"`, map[string]any{"http.response.status_code": 204, "http.request.method": "DELETE", "url.path": "/api/orders/9", "source.ip": "10.0.0.5", "duration": 0.02}},
	{"app", "api", "error", "api-1", "payment 42 failed: connection reset by peer", map[string]any{"error.message": "dial tcp 10.1.2.3:5432: connection refused", "user": "O'Brien", "labels.env": "prod", "status_str": "500"}},
	{"app", "api", "error", "api-1", "timeout calling api.example.com after 30s", map[string]any{"labels.env": "prod", "status_str": "504", "retry": 3}},
	{"app", "api", "warn", "api-2", "Retrying request: Connection reset", map[string]any{"labels.env": "staging", "status_str": "404", "retry": 1}},
	{"app", "api", "info", "api-2", "user logged in from Zürich", map[string]any{"user": "zoë", "labels.env": "prod", "city": "Zürich"}},
	{"app", "api", "debug", "api-1", "cache warm: 1200 keys in 0.4s", map[string]any{"labels.env": "prod", "keys": 1200, "cache.hit": true}},
	{"app", "worker", "info", "worker-1", "Job error-report finished", map[string]any{"job": "error-report", "labels.env": "prod"}},
	{"app", "worker", "ERROR", "worker-1", "東京 region unreachable, café closed", map[string]any{"job": "sync", "labels.env": "staging"}},
	{"app", "worker", "info", "worker-1", "processed 500 items", map[string]any{"job": "sync", "items": 500, "status_str": "200"}},
	{"syslog", "sshd", "info", "bastion", "Accepted publickey for deploy from 10.0.0.1 port 52100", map[string]any{"process.pid": 812, "user": "deploy"}},
	{"syslog", "sshd", "warn", "bastion", "Failed password for root from 203.0.113.9 port 41022", map[string]any{"process.pid": 813, "user": "root", "tags": []any{"security"}}},
	{"syslog", "cron", "info", "bastion", "(root) CMD (run-parts /etc/cron.hourly)", map[string]any{"process.pid": 90, "user": "root"}},
}

// Events are the documents every backend is loaded with, spread over
// two hours from Day0 (three events at the same instant, so ties are
// ordered by id).
func Events() []index.Doc {
	var out []index.Doc
	for i, e := range events {
		ts := Day0.Add(time.Duration(i) * 7 * time.Minute)
		if i >= 13 {
			ts = Day0.Add(12 * 7 * time.Minute)
		}
		doc := map[string]any{
			"@timestamp":  event.FormatTime(ts),
			"message":     e.msg,
			"data_stream": map[string]any{"type": "logs", "dataset": e.dataset, "namespace": "default"},
			"event":       map[string]any{"id": fmt.Sprintf("ev-%02d", i)},
			"log":         map[string]any{"level": e.level, "offset": i * 100},
			"host":        map[string]any{"name": e.host},
			"service":     map[string]any{"name": e.service},
		}
		for k, v := range e.fields {
			doc[k] = v
		}
		src, err := json.Marshal(doc)
		if err != nil {
			panic(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(src, &fields); err != nil {
			panic(err)
		}
		out = append(out, index.Doc{ID: fmt.Sprintf("ev-%02d", i), Index: index.DailyName(e.dataset, ts), Time: ts, Source: src, Fields: fields})
	}
	return out
}

// Queries are the query strings of the table: words, phrases, fields,
// wildcards, ranges, NOT, nesting, unicode, numbers against strings.
var Queries = []string{
	"",
	"error", "ERROR", "Error", "timeout", "reset", "Connection", "connection reset",
	`"connection reset"`, `"reset connection"`, `"connection reset by peer"`,
	"message:error", "message:ERROR", "log.level:error", "log.level:ERROR", "log.level:Error",
	"service.name:api", "service.name:ap*", "service.name:?pi", "service.name:API",
	"url.path:/api/users*", "url.path:/api/*/9", "conn*", "Conn*", "*ing",
	"http.response.status_code:500", "http.response.status_code:500.0", "http.response.status_code:[500 TO 599]",
	"http.response.status_code:{500 TO 599]", "http.response.status_code:[400 TO 500}", "http.response.status_code:>=404",
	"http.response.status_code:<300", "http.response.status_code:[* TO 204]",
	"status_str:500", "status_str:[400 TO 499]", "status_str:>404", "500", "200",
	"duration:>0.5", "duration:[0.01 TO 1]", "retry:3", "keys:>=1000",
	"cache.hit:true", "cache.hit:false",
	"NOT log.level:info", "-service.name:api", "!service.name:web",
	"log.level:error AND service.name:api", "log.level:error OR log.level:warn", "log.level:(error OR warn)",
	"(service.name:api OR service.name:web) AND NOT log.level:info",
	"service.name:api -(log.level:info OR log.level:debug)",
	"+log.level:error +service.name:api", "reset AND NOT Retrying", "(reset OR timeout) service.name:api",
	"Zürich", "zürich", "ZÜRICH", "city:Zürich", "city:zürich", "café", "東京", "zoë", "user:zoë",
	`user:"O'Brien"`, "O'Brien",
	"labels.env:prod", "labels.env:prod AND NOT labels.env:staging", "tags:slow", "tags:security OR tags:probe",
	"host.name:web-1", "host.name:web*", `"GET /api/users"`, "api.example.com", "10.0.0.1", "source.ip:10.0.0.1",
	"error.message:refused", `error.message:"connection refused"`, "refused",
	"@timestamp:[2026-03-01T10:00:00Z TO 2026-03-01T10:30:00Z]", "@timestamp:>=2026-03-01T11:00:00Z",
	"@timestamp:<2026-03-01", "missing.field:x", "NOT missing.field:x",
	"data_stream.dataset:app", "data_stream.dataset:nginx.access AND http.request.method:GET",
	"process.pid:[800 TO 900]", "job:error-report", "job:error*", "sync",
	"error-report", "publickey deploy", "event.id:ev-03", "log.offset:>=1000",
	"job:*", "tags:*", "tags:pro*", "tags:[probe TO security]", "tags:>r", "[api TO api-2]", "user:>=root",
	"NOT tags:[probe TO security]", "retry:[1 TO 3}",
}

// Case is one search of the table.
type Case struct {
	Name string
	Req  index.Request
}

// Cases is every query of Queries over the whole range, newest first, plus
// time ranges, datasets, sorts, pages, a histogram and top values.
func Cases() []Case {
	all := index.Request{From: Day0, To: Day0.Add(2 * time.Hour), Size: 100}
	var out []Case
	for _, q := range Queries {
		n, err := query.Parse(q)
		if err != nil {
			panic(fmt.Sprintf("%q: %v", q, err))
		}
		r := all
		r.Query = n
		out = append(out, Case{Name: q, Req: r})
	}
	must := func(s string) query.Node {
		n, err := query.Parse(s)
		if err != nil {
			panic(err)
		}
		return n
	}
	add := func(name string, f func(r *index.Request)) {
		r := all
		f(&r)
		out = append(out, Case{Name: name, Req: r})
	}
	add("range: first half hour", func(r *index.Request) { r.To = Day0.Add(30 * time.Minute) })
	add("range: to is exclusive", func(r *index.Request) { r.From, r.To = Day0.Add(7*time.Minute), Day0.Add(14*time.Minute) })
	add("range: the tied instant", func(r *index.Request) { r.From, r.To = Day0.Add(84*time.Minute), Day0.Add(85*time.Minute) })
	add("datasets: app and syslog", func(r *index.Request) { r.Datasets = []string{"app", "syslog"} })
	add("oldest first", func(r *index.Request) { r.Oldest = true })
	add("page 2 of 5, newest first", func(r *index.Request) { r.Offset, r.Size = 5, 5 })
	add("page 3 of 4, oldest first", func(r *index.Request) { r.Offset, r.Size, r.Oldest = 8, 4, true })
	add("histogram: 10 minutes", func(r *index.Request) {
		r.Query = must("NOT log.level:debug")
		r.Buckets = index.Buckets(r.From, r.To, 10*time.Minute, 60, 500)
	})
	add("histogram: unaligned range", func(r *index.Request) {
		r.From = Day0.Add(3 * time.Minute)
		r.Buckets = index.Buckets(r.From, r.To, 0, 12, 500)
	})
	add("top values", func(r *index.Request) {
		r.Top = []string{"service.name", "log.level", "labels.env", "host.name"}
		r.TopSize = 3
	})
	add("top values of matches", func(r *index.Request) {
		r.Query = must("error OR warn")
		r.Top = []string{"service.name", "data_stream.dataset"}
	})
	return out
}

// Answer is what a backend returned, in comparable form.
type Answer struct {
	IDs    []string
	Total  int64
	Counts []int64
	Top    map[string][]index.ValueCount
}

// Ask runs c against ix.
func Ask(ctx context.Context, ix index.Searcher, c Case) (Answer, error) {
	res, err := ix.Search(ctx, c.Req)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Total: res.Total, Counts: res.Counts, Top: res.Top}
	for _, h := range res.Hits {
		var d struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(h, &d); err != nil {
			return Answer{}, err
		}
		a.IDs = append(a.IDs, d.Event.ID)
	}
	return a, nil
}

// Reference is the answer the query language defines: query.Matches over
// the events, in the request's order, the page cut out.
func Reference(docs []index.Doc, c Case) Answer {
	r := c.Req
	var hits []index.Doc
	for _, d := range docs {
		if d.Time.Before(r.From) || !d.Time.Before(r.To) || !query.Matches(r.Query, d.Fields) {
			continue
		}
		if len(r.Datasets) > 0 && !contains(r.Datasets, query.String(query.Lookup(d.Fields, "data_stream.dataset"))) {
			continue
		}
		hits = append(hits, d)
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time) == r.Oldest
		}
		return (a.ID < b.ID) == r.Oldest
	})
	ans := Answer{Total: int64(len(hits))}
	for i := r.Offset; i < len(hits) && i < r.Offset+r.Size; i++ {
		ans.IDs = append(ans.IDs, hits[i].ID)
	}
	if len(r.Buckets) > 0 {
		ans.Counts = make([]int64, len(r.Buckets))
		for _, d := range hits {
			for i := len(r.Buckets) - 1; i >= 0; i-- {
				if !d.Time.Before(r.Buckets[i]) {
					ans.Counts[i]++
					break
				}
			}
		}
	}
	if len(r.Top) > 0 {
		size := r.TopSize
		if size <= 0 {
			size = 10
		}
		ans.Top = map[string][]index.ValueCount{}
		for _, f := range r.Top {
			counts := map[string]int64{}
			for _, d := range hits {
				if v, ok := query.Lookup(d.Fields, f).(string); ok {
					counts[v]++
				}
			}
			vs := []index.ValueCount{}
			for v, n := range counts {
				vs = append(vs, index.ValueCount{Value: v, Count: n})
			}
			sort.Slice(vs, func(i, j int) bool {
				if vs[i].Count != vs[j].Count {
					return vs[i].Count > vs[j].Count
				}
				return vs[i].Value < vs[j].Value
			})
			ans.Top[f] = vs[:min(len(vs), size)]
		}
	}
	return ans
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Check asks every backend every case and fails t where one differs from
// the reference. It returns how many cases matched at least one event, so
// a caller can tell the table is not vacuous.
func Check(t *testing.T, backends map[string]index.Searcher) (nonEmpty int) {
	t.Helper()
	docs := Events()
	for _, c := range Cases() {
		want := Reference(docs, c)
		if want.Total > 0 {
			nonEmpty++
		}
		for name, ix := range backends {
			got, err := Ask(context.Background(), ix, c)
			if err != nil {
				t.Errorf("%s: %q: %v", name, c.Name, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %q:\n got %+v\nwant %+v", name, c.Name, got, want)
			}
		}
	}
	return nonEmpty
}
