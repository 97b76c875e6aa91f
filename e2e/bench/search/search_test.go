// Benchmark (not a timed test; its Bazel target is manual): the searches the
// /search page issues, over 10 000 000 nginx access events of one day in the
// embedded engine (internal/index/embedded), next to the same searches over
// the first 1 000 000 of them in a single-node OpenSearch (the e2e image) in
// the same run, through the index layer's Searcher on both.
//
// Run: e2e/bench/search.sh (it builds the OpenSearch image if missing).
// The embedded index is loaded through its Writer (batches of 50 000, as
// fast as it goes: the load is not what is measured) into -dir, and a later
// run with the same -dir and -events reuses it, so a profile
// (-cpuprofile) covers the searches only.
package search_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/index/opensearch"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

var (
	events   = flag.Int("events", 10_000_000, "events loaded into the embedded index, evenly over one day")
	osEvents = flag.Int("opensearch-events", 1_000_000, "the first events of the day (in time order: a prefix of the day) loaded into OpenSearch; 0 skips it")
	runs     = flag.Int("runs", 30, "runs of each search (p50 and p99 over them)")
	dir      = flag.String("dir", "", "directory of the embedded index, reused when it holds -events already (empty: a temporary one)")
	only     = flag.String("only", "", "regular expression: run only the searches whose names match")
)

func TestMain(m *testing.M) { harness.Main(m) }

// day0 is the first event's time: noon, so "the last 24 hours" spans two
// daily partitions, as it does on a live index.
var day0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const needle = "xyzzy7needle"

// topSample is the search API's: past it the field sidebar's counts are
// estimated from a sample of about as many matches.
const topSample = 100000

// search is one search of the page.
type search struct {
	name string
	req  func(from, to time.Time) index.Request
	runs int // at most this many runs (0: -runs)
}

// searches are what the /search page asks (services/replay/api: pages of
// 50, a histogram of about 60 bars, the top 5 values of the exact fields
// the page's hits hold) over a range [from, to).
func searches(top []string) []search {
	parse := func(s string) query.Node {
		n, err := query.Parse(s)
		if err != nil {
			panic(err)
		}
		return n
	}
	hist := func(r index.Request) index.Request {
		r.Buckets = index.Buckets(r.From, r.To, 0, 60, 500)
		return r
	}
	status500 := parse("http.response.status_code:500")
	return []search{
		{name: "term + 12 h + histogram", req: func(from, to time.Time) index.Request {
			mid := from.Add(to.Sub(from) / 4)
			return hist(index.Request{Query: status500, From: mid, To: mid.Add(to.Sub(from) / 2), Size: 50})
		}},
		{name: "term + 24 h + histogram", req: func(from, to time.Time) index.Request {
			return hist(index.Request{Query: status500, From: from, To: to, Size: 50})
		}},
		{name: "needle (bare word), 24 h + histogram", req: func(from, to time.Time) index.Request {
			return hist(index.Request{Query: parse(needle), From: from, To: to, Size: 50})
		}},
		{name: "last 24 h, all: page of 50 newest + histogram", req: func(from, to time.Time) index.Request {
			return hist(index.Request{From: from, To: to, Size: 50})
		}},
		{name: "last 24 h, all: page of 50 oldest", req: func(from, to time.Time) index.Request {
			return index.Request{From: from, To: to, Size: 50, Oldest: true}
		}},
		{name: "last 24 h, all: page 200 (offset 9 950)", req: func(from, to time.Time) index.Request {
			return index.Request{From: from, To: to, Offset: 9950, Size: 50}
		}},
		{name: fmt.Sprintf("last 24 h, all: top 5 of %d fields", len(top)), req: func(from, to time.Time) index.Request {
			return index.Request{From: from, To: to, Top: top, TopSize: 5, TopSample: topSample}
		}},
		{name: fmt.Sprintf("term + 24 h: top 5 of %d fields", len(top)), req: func(from, to time.Time) index.Request {
			return index.Request{Query: status500, From: from, To: to, Top: top, TopSize: 5, TopSample: topSample}
		}},
		{name: fmt.Sprintf("last 24 h, all: top 5 of %d fields, exact", len(top)), req: func(from, to time.Time) index.Request {
			return index.Request{From: from, To: to, Top: top, TopSize: 5}
		}, runs: 5}, // seconds each: what the sample saves
	}
}

func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	top := topFields(doc(0, *events))
	emb := loadEmbedded(b, ctx)
	defer emb.Close()
	from, to := day0, day0.Add(24*time.Hour)
	var peer *opensearch.Index
	var osTo time.Time
	if *osEvents > 0 {
		peer = loadOpenSearch(b, ctx)
		// OpenSearch holds a prefix of the day: the same searches over the
		// same share of its range, so each engine answers over all it holds.
		osTo = at(*osEvents, *events)
	}
	var filter *regexp.Regexp
	if *only != "" {
		filter = regexp.MustCompile(*only)
	}
	fmt.Printf("\n%-48s %9s %9s %9s %10s | %9s %9s %9s %10s | %s\n", "search (ms; cpu: this process's CPU per search)", "emb p50", "emb p99", "emb cpu", "emb total",
		"os p50", "os p99", "os max", "os total", "p50, p99 emb/os")
	for _, s := range searches(top) {
		if filter != nil && !filter.MatchString(s.name) {
			continue
		}
		n := *runs
		if s.runs > 0 {
			n = min(n, s.runs)
		}
		e := measure(b, ctx, emb, s.req(from, to), n)
		line := fmt.Sprintf("%-48s %9.1f %9.1f %9.1f %10s", s.name, e.p50, e.p99, e.cpu, e.matches())
		if peer != nil {
			o := measure(b, ctx, peer, s.req(from, scale(from, to, osTo)), n)
			line += fmt.Sprintf(" | %9.1f %9.1f %9.1f %10s | %.2f, %.2f", o.p50, o.p99, o.max, o.matches(), e.p50/o.p50, e.p99/o.p99)
		}
		fmt.Println(line)
		b.ReportMetric(e.p99, strings.ReplaceAll(s.name, " ", "_")+"-p99-ms")
	}
	fmt.Printf("(embedded: %d events over [%s, %s); OpenSearch: the first %d, over [%s, %s), the searches' ranges scaled to it; %d runs each, ms)\n",
		*events, from.Format(time.RFC3339), to.Format(time.RFC3339), *osEvents, from.Format(time.RFC3339), osTo.Format(time.RFC3339), *runs)
}

// scale maps the searches' range [from, to) over the embedded day onto the
// prefix [from, osTo) OpenSearch holds.
func scale(from, to, osTo time.Time) time.Time {
	if osTo.After(to) {
		return to
	}
	return osTo
}

type figures struct {
	p50, p99, max float64
	cpu           float64 // this process's CPU time per search, ms
	total, sample int64   // matches; the top values' sample, if one
}

// cpuTime is this process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// matches is the total, and the top values' sample if there was one.
func (f figures) matches() string {
	if f.sample > 0 {
		return fmt.Sprintf("%d~%d", f.total, f.sample)
	}
	return strconv.FormatInt(f.total, 10)
}

// measure runs r n times after one warm-up run.
func measure(b *testing.B, ctx context.Context, ix index.Searcher, r index.Request, n int) figures {
	res, err := ix.Search(ctx, r)
	if err != nil {
		b.Fatalf("%+v: %v", r, err)
	}
	f := figures{total: res.Total}
	if res.TopSample > 0 {
		f.sample = res.TopSample
	}
	ms := make([]float64, n)
	c0 := cpuTime()
	for i := range ms {
		t := time.Now()
		if _, err := ix.Search(ctx, r); err != nil {
			b.Fatal(err)
		}
		ms[i] = float64(time.Since(t).Microseconds()) / 1000
	}
	f.cpu = float64((cpuTime() - c0).Microseconds()) / 1000 / float64(n)
	slices.Sort(ms)
	f.p50, f.p99, f.max = ms[len(ms)/2], ms[min(len(ms)-1, int(float64(len(ms))*0.99))], ms[len(ms)-1]
	return f
}

// loadEmbedded opens -dir, loading it unless it holds -events already.
func loadEmbedded(b *testing.B, ctx context.Context) *embedded.Index {
	d := *dir
	if d == "" {
		d = filepath.Join(b.TempDir(), "ix")
	}
	ix, err := embedded.Open(d)
	if err != nil {
		b.Fatal(err)
	}
	n, err := ix.Count(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if n == int64(*events) {
		fmt.Printf("embedded: reusing %s (%d events)\n", d, n)
		return ix
	}
	if n != 0 {
		b.Fatalf("%s holds %d events, not %d: remove it or name another -dir", d, n, *events)
	}
	t0 := time.Now()
	load(b, ctx, ix, *events, 50000)
	took := time.Since(t0)
	if n, err := ix.Count(ctx); err != nil || n != int64(*events) {
		b.Fatalf("the embedded index holds %d events (%v), want %d", n, err, *events)
	}
	fmt.Printf("embedded: loaded %d events in %s (%.0f ev/s)\n", *events, took.Round(time.Millisecond), float64(*events)/took.Seconds())
	return ix
}

// loadOpenSearch starts OpenSearch and loads the first -opensearch-events
// events into their daily indices through the index layer's writer.
func loadOpenSearch(b *testing.B, ctx context.Context) *opensearch.Index {
	// A 2 GiB heap (the image's default is 512 MiB, for tests): about what
	// the embedded engine's process holds after loading.
	heap := func(req *testcontainers.ContainerRequest) {
		req.Env = map[string]string{"OPENSEARCH_JAVA_OPTS": "-Xms2g -Xmx2g"}
	}
	node := harness.StartOpenSearch(b, nil, heap)
	c, err := opensearch.New(opensearch.Config{URLs: []string{node.URL}, RequestTimeout: 2 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.EnsureTemplate(ctx); err != nil {
		b.Fatal(err)
	}
	live := c.Live()
	t0 := time.Now()
	load(b, ctx, writerFunc(func(ctx context.Context, docs []index.Doc) error {
		for i := range docs {
			docs[i].Index = index.DailyName("nginx.access", docs[i].Time)
		}
		return c.Write(ctx, "", docs, opensearch.Backoff{})
	}), *osEvents, 5000)
	if err := live.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	n, err := live.Count(ctx)
	if err != nil || n != int64(*osEvents) {
		b.Fatalf("OpenSearch holds %d events (%v), want %d", n, err, *osEvents)
	}
	fmt.Printf("opensearch: loaded %d events in %s (%.0f ev/s)\n", *osEvents, took.Round(time.Millisecond), float64(*osEvents)/took.Seconds())
	return live
}

type putter interface {
	Put(ctx context.Context, docs []index.Doc) error
}

type writerFunc func(ctx context.Context, docs []index.Doc) error

func (f writerFunc) Put(ctx context.Context, docs []index.Doc) error { return f(ctx, docs) }

// load puts the first n of the day's events (of *events) in batches, the
// next batch made while the last is put.
func load(b *testing.B, ctx context.Context, w putter, n, batch int) {
	batches := make(chan []index.Doc, 1)
	go func() {
		defer close(batches)
		for i := 0; i < n; i += batch {
			docs := make([]index.Doc, 0, batch)
			for j := i; j < min(i+batch, n); j++ {
				docs = append(docs, doc(j, *events))
			}
			batches <- docs
		}
	}()
	done, next := 0, time.Now()
	for docs := range batches {
		if err := w.Put(ctx, docs); err != nil {
			b.Fatalf("put: %v", err)
		}
		if done += len(docs); time.Now().After(next) {
			fmt.Fprintf(os.Stderr, "  %d / %d\n", done, n)
			next = time.Now().Add(30 * time.Second)
		}
	}
}

// needleAt is the needle's event: in the middle of what OpenSearch holds
// too, so both engines find it.
func needleAt(n int) int {
	if *osEvents > 0 && *osEvents < n {
		return *osEvents / 2
	}
	return n / 2
}

// at is the time of event i of n over the day.
func at(i, n int) time.Time {
	return day0.Add(time.Duration(float64(i) * float64(24*time.Hour) / float64(n))) // i × 24 h in ns overflows int64 past 106 751
}

var (
	paths   = []string{"/", "/api/users", "/api/orders", "/api/cart", "/api/search", "/static/app.js", "/static/app.css", "/health", "/login", "/logout", "/api/products", "/favicon.ico"}
	methods = []string{"GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"}
	months  = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// doc is event i of n: an nginx combined line of one of 8 hosts, as the
// router's combined parser and internal/event make it (parsed fields as
// top-level dotted names). Cardinalities: 65 536 client addresses, 12 000
// URLs, 97 user agents; every 50th a 500, every 7th a 404; one needle
// (needleAt).
func doc(i, n int) index.Doc {
	t := at(i, n)
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	id := fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, r.Uint64())
	addr := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(64), r.IntN(256))
	method := methods[r.IntN(len(methods))]
	url := fmt.Sprintf("%s?page=%d", paths[r.IntN(len(paths))], r.IntN(1000))
	if i == needleAt(n) {
		url = "/" + needle
	}
	status := 200
	switch {
	case i%50 == 0:
		status = 500
	case i%7 == 0:
		status = 404
	case i%11 == 0:
		status = 304
	}
	bytes := 200 + r.IntN(20000)
	agent := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) bench/%d", r.IntN(97))
	host := "web-" + strconv.Itoa(i%8)
	ts := fmt.Sprintf("%02d/%s/%d:%02d:%02d:%02d +0000", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute(), t.Second())
	msg := fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s"`, addr, ts, method, url, status, bytes, agent)
	offset := int64(i/8) * 160
	stamp := t.Format(time.RFC3339Nano)
	src := fmt.Sprintf(`{"@timestamp":%q,"message":%q,"data_stream":{"type":"logs","dataset":"nginx.access","namespace":"default"},"event":{"id":%q},`+
		`"log":{"file":{"path":"/var/log/nginx/access.log"},"offset":%d},"host":{"name":%q},"http.request.method":%q,"http.response.body.bytes":%d,`+
		`"http.response.status_code":%d,"http.version":"1.1","source.address":%q,"url.original":%q,"user_agent.original":%q}`,
		stamp, msg, id, offset, host, method, bytes, status, addr, url, agent)
	fields := map[string]any{
		"@timestamp":                stamp,
		"message":                   msg,
		"data_stream":               map[string]any{"type": "logs", "dataset": "nginx.access", "namespace": "default"},
		"event":                     map[string]any{"id": id},
		"log":                       map[string]any{"file": map[string]any{"path": "/var/log/nginx/access.log"}, "offset": float64(offset)},
		"host":                      map[string]any{"name": host},
		"http.request.method":       method,
		"http.response.body.bytes":  float64(bytes),
		"http.response.status_code": float64(status),
		"http.version":              "1.1",
		"source.address":            addr,
		"url.original":              url,
		"user_agent.original":       agent,
	}
	return index.Doc{ID: id, Time: t, Source: []byte(src), Fields: fields}
}

// topFields are the exact fields a page's hits hold, as the search API
// picks them for the field sidebar: strings and booleans, not text, dates
// or the event id.
func topFields(d index.Doc) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, c)
			}
		case string, bool:
			if !query.IsText(prefix) && !query.IsDate(prefix) && prefix != "event.id" {
				out = append(out, prefix)
			}
		}
	}
	walk("", d.Fields)
	slices.Sort(out)
	return out
}
