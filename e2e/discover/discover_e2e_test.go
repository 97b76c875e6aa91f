// The search page as an engineer uses it during an incident, in headless
// Chromium against the all-in-one binary running its demo: the test writes
// JSON log lines of its own into the inbox (beside the demo's traffic), so it
// knows what every count on the page must be, then checks the field sidebar,
// click-to-filter, event detail and its surrounding events, relative ranges,
// histogram zoom, live tail, a shared URL, export and follow-a-request.
package discover

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/headless"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

var allinone = flag.String("allinone", "", "the all-in-one binary (default: go build ./services/allinone)")

// colors are the test's events: color -> how many, all in the last minutes;
// plus old events two hours ago.
var colors = map[string]int{"red": 12, "green": 10, "blue": 8}

const (
	old   = 5
	query = "e2e:discover"
)

// start runs the all-in-one with its demo on a fresh data directory, with
// the extra flags given, and returns its HTTP base URL and inbox.
func start(t *testing.T, extra ...string) (string, string) {
	t.Helper()
	bin := harness.Binary(t, *allinone, "github.com/hindsight-dev/hindsight/services/allinone")
	data := t.TempDir()
	a := harness.StartAllInOne(t, bin, data, headless.OutputDir(t), append([]string{"--demo", "--demo-days=1"}, extra...)...)
	return a.Base, filepath.Join(data, "inbox")
}

// appendLines appends JSON log lines to a file of the app dataset.
func appendLines(t *testing.T, inbox string, lines ...map[string]any) {
	t.Helper()
	dir := filepath.Join(inbox, "app")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "e2e.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		b, _ := json.Marshal(l)
		fmt.Fprintf(f, "%s\n", b)
	}
}

func total(t *testing.T, base string, body map[string]any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(base+"/v1/search", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Total string `json:"total"`
	}
	json.NewDecoder(resp.Body).Decode(&r)
	var n int
	fmt.Sscan(r.Total, &n)
	return n
}

func TestSearchPage(t *testing.T) {
	base, inbox := start(t)
	now := time.Now().UTC()
	var lines []map[string]any
	i := 0
	for _, c := range []string{"red", "green", "blue"} {
		for range colors[c] {
			i++
			lines = append(lines, map[string]any{"@timestamp": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339Nano),
				"e2e": "discover", "color": c, "level": "info", "message": fmt.Sprintf("e2e order %d", i), "request_id": fmt.Sprintf("e2e-req-%d", i%4)})
		}
	}
	for j := range old {
		lines = append(lines, map[string]any{"@timestamp": now.Add(-2*time.Hour - time.Duration(j)*time.Minute).Format(time.RFC3339Nano),
			"e2e": "discover", "color": "violet", "level": "warn", "message": fmt.Sprintf("e2e old %d", j)})
	}
	appendLines(t, inbox, lines...)
	recent := len(lines) - old
	polltest.True(t, "the test's events searchable", 30*time.Second, func() bool {
		return total(t, base, map[string]any{"query": query}) == len(lines)
	})

	ctx := headless.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	fail := func(what string, err error) {
		t.Helper()
		headless.Screenshot(t, ctx, "failed.png")
		t.Fatalf("%s: %v", what, err)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			fail(what, err)
		}
	}
	js := func(what, expr string, out any) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
		if err == nil {
			err = json.Unmarshal(v, out)
		}
		if err != nil {
			fail(what, err)
		}
	}
	poll := func(what, cond string, timeout time.Duration) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
		defer cancel()
		deadline := time.Now().Add(timeout)
		for {
			_, err := chromedp.Run(c, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
			// A poll started as the page was still loading loses its
			// JavaScript context: poll again in the new one.
			if err != nil && strings.Contains(err.Error(), "Cannot find context") && time.Now().Before(deadline) {
				continue
			}
			if err != nil {
				fail(what, err)
			}
			return
		}
	}
	waitFor := func(what, cond string) { t.Helper(); poll(what, cond, 15*time.Second) }
	shownTotal := func() int {
		var n int
		js("total", `Number(document.querySelector("#total").dataset.total)`, &n)
		return n
	}

	// Field sidebar: the counts are those the test wrote.
	run("open", chromedp.Navigate(base+"/search?range=24h&q="+query))
	waitFor("sidebar", `document.querySelector('#fields li[data-field="color"]') !== null`)
	var side map[string]int
	js("sidebar values", `Object.fromEntries([...document.querySelectorAll('#fields li[data-field="color"] ul.values li')].map(li => [li.dataset.value, Number(li.dataset.count)]))`, &side)
	want := map[string]int{"red": 12, "green": 10, "blue": 8, "violet": old}
	if fmt.Sprint(side) != fmt.Sprint(want) {
		t.Fatalf("sidebar color values %v, want %v", side, want)
	}
	if n := shownTotal(); n != len(lines) {
		t.Fatalf("total %d, want %d", n, len(lines))
	}

	// Click-to-filter.
	run("filter green", chromedp.Click(`#fields li[data-field="color"] li[data-value="green"] button.filter`))
	waitFor("filtered", `Number(document.querySelector("#total").dataset.total) === 10`)
	var q string
	js("query", `document.querySelector("#s-query").value`, &q)
	if q != query+` AND color:"green"` {
		t.Fatalf("query after the click %q", q)
	}
	run("exclude green", chromedp.Click(`#fields li[data-field="color"] li[data-value="green"] button.exclude`))
	waitFor("excluded", `Number(document.querySelector("#total").dataset.total) === 0`)

	// Event detail, with a column chosen.
	run("back", chromedp.Navigate(base+"/search?range=24h&q="+query))
	waitFor("sidebar", `document.querySelector('#fields li[data-field="color"]') !== null`)
	run("color column", chromedp.Click(`#fields li[data-field="color"] button.col`))
	waitFor("column", `document.querySelector('#events th[data-col="color"]') !== null`)
	run("open event", chromedp.Click(`#events tr.event`))
	waitFor("detail", `document.querySelector('tr.fields:not([hidden]) table.detail tr[data-field="color"]') !== null`)
	var detail struct {
		Color string `json:"color"`
		JSON  string `json:"json"`
		Cell  string `json:"cell"`
	}
	js("detail", `({color: document.querySelector('tr.fields:not([hidden]) tr[data-field="color"] td').textContent,
		json: document.querySelector('tr.fields:not([hidden]) pre.json').textContent,
		cell: document.querySelector('#events tr.event td[data-col="color"]').textContent})`, &detail)
	if detail.Color != "red" || detail.Cell != "red" || !strings.Contains(detail.JSON, `"request_id": "e2e-req-1"`) {
		t.Fatalf("detail of the newest event: %+v", detail)
	}
	headless.Screenshot(t, ctx, "search-sidebar-detail.png")

	// Surrounding events: the lines of its file around one event, by offset.
	js("open order 15", `document.querySelector("#events tr.event").click(); document.querySelectorAll("#events tr.event")[14].click(); true`, new(bool))
	run("surrounding", chromedp.Click(`tr.fields:not([hidden]) button.surrounding`))
	waitFor("surrounding lines", `document.querySelectorAll("ol.surrounding-lines li").length > 0`)
	var around struct {
		N     int    `json:"n"`
		This  string `json:"this"`
		First string `json:"first"`
	}
	js("surrounding lines", `(() => { const li = [...document.querySelectorAll("ol.surrounding-lines li")];
		return {n: li.length, this: li.find(l => l.classList.contains("this"))?.textContent || "", first: li[0].textContent}; })()`, &around)
	// The file holds the 35 lines: 14 before order 15, it, and 20 after.
	if around.N != len(lines) || !strings.HasSuffix(around.This, "e2e order 15") || !strings.HasSuffix(around.First, "e2e order 1") {
		t.Fatalf("surrounding events %+v, want the file's %d lines from order 1, order 15 marked", around, len(lines))
	}

	// Shared URL: a new page opened on it shows the same view.
	var shared string
	js("url", `location.href`, &shared)
	if !strings.Contains(shared, "cols=") || !strings.Contains(shared, "range=24h") {
		t.Fatalf("URL %s holds not the whole view", shared)
	}
	run("shared", chromedp.Navigate("about:blank"), chromedp.Navigate(shared))
	waitFor("shared view", `document.querySelector('#events th[data-col="color"]') !== null && Number(document.querySelector("#total").dataset.total) === `+fmt.Sprint(len(lines)))
	js("query", `document.querySelector("#s-query").value`, &q)
	if q != query {
		t.Fatalf("shared URL query %q", q)
	}

	// Relative range: the last 15 minutes leaves out the events of two
	// hours ago.
	run("15m", chromedp.SetValue("#s-range", "15m"))
	js("change", `document.querySelector("#s-range").dispatchEvent(new Event("change"))`, new(bool))
	waitFor("15m", fmt.Sprintf(`Number(document.querySelector("#total").dataset.total) === %d && location.search.includes("range=15m")`, recent))

	// Histogram zoom: drag over the 24 h histogram's buckets from 3 h to
	// 1 h ago: only the old events are left.
	run("24h", chromedp.Navigate(base+"/search?range=24h&q="+query))
	waitFor("bars", `document.querySelectorAll("#histogram rect[data-count]").length > 20`)
	var box struct{ X, Y, W, H float64 }
	js("histogram box", `(() => { const r = document.querySelector("#histogram").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`, &box)
	x := func(hoursAgo float64) float64 { return box.X + box.W*(24-hoursAgo)/24 }
	y := box.Y + box.H/2
	run("drag", chromedp.MouseEvent(chromedp.MousePressed, x(3), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x(2), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x(1), y, chromedp.ButtonLeft))
	waitFor("zoomed", fmt.Sprintf(`Number(document.querySelector("#total").dataset.total) === %d && location.search.includes("from=")`, old))
	headless.Screenshot(t, ctx, "search-zoomed.png")

	// Export: as many NDJSON lines as the result's total.
	run("24h", chromedp.Navigate(base+"/search?range=24h&q="+query))
	waitFor("loaded", fmt.Sprintf(`Number(document.querySelector("#total").dataset.total) === %d`, len(lines)))
	run("export", chromedp.Click("#export-ndjson"))
	waitFor("exported", fmt.Sprintf(`document.querySelector("#search-msg").dataset.exported === "%d"`, len(lines)))
	b, _ := json.Marshal(map[string]any{"search": map[string]any{"query": query}, "format": "FORMAT_NDJSON"})
	resp, err := http.Post(base+"/v1/search:export", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil || doc["e2e"] != "discover" {
			t.Fatalf("export line %d: %s (%v)", n+1, sc.Bytes(), err)
		}
	}
	resp.Body.Close()
	if n != len(lines) {
		t.Fatalf("export of %d lines, result has %d", n, len(lines))
	}

	// Follow: from one event to every event of its request id.
	run("open event", chromedp.Click(`#events tr.event`))
	waitFor("follow button", `document.querySelector('tr.fields:not([hidden]) button.follow') !== null`)
	run("follow", chromedp.Click(`tr.fields:not([hidden]) button.follow`))
	wantFollow := 0
	for _, l := range lines {
		if l["request_id"] == "e2e-req-1" {
			wantFollow++
		}
	}
	waitFor("followed", fmt.Sprintf(`Number(document.querySelector("#total").dataset.total) === %d && location.search.includes("follow=e2e-req-1")`, wantFollow))
	var followed []string
	js("followed rows", `[...document.querySelectorAll('#events tr.event td[data-col="data_stream.dataset"]')].map(td => td.textContent)`, &followed)
	if len(followed) != wantFollow || followed[0] != "app" {
		t.Fatalf("followed rows' datasets %v, want %d app rows", followed, wantFollow)
	}
	headless.Screenshot(t, ctx, "search-follow.png")

	// Live tail: a line written to the inbox shows within 3 s.
	run("24h", chromedp.Navigate(base+"/search?range=15m&q="+query))
	waitFor("loaded", fmt.Sprintf(`Number(document.querySelector("#total").dataset.total) === %d`, recent))
	run("tail", chromedp.Click("#tail"))
	marker := fmt.Sprintf("tailed %d", time.Now().UnixNano())
	appendLines(t, inbox, map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano), "e2e": "discover", "color": "red", "message": marker})
	began := time.Now()
	// The page's part: shown within 3 s of the line being searchable (what
	// the pipeline adds before that depends on the machine's load, so it is
	// logged, not bounded).
	searchable := polltest.True(t, "the tailed line searchable", 30*time.Second, func() bool {
		return total(t, base, map[string]any{"query": fmt.Sprintf("message:%q", marker)}) == 1
	})
	poll("tailed", fmt.Sprintf(`[...document.querySelectorAll("#events tr.event")].some(tr => tr.textContent.includes(%q))`, marker), 3*time.Second)
	t.Logf("live tail: the written line searchable after %v, on the page after %v", searchable.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	headless.Screenshot(t, ctx, "search-tail.png")
}
