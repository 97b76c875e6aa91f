package replay

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/headless"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
	gatewayapp "github.com/hindsight-dev/hindsight/services/gateway/app"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

// liveMapping is the part of the indexer's logs-* template that live search
// relies on (keyword fields, message text, event.id to sort on).
const liveMapping = `{"mappings": {
  "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}}],
  "properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"}}}}`

// indexLive puts day 2 of nginx.access into a live daily index, as the
// indexer would, straight from the archive's documents.
func (s *suite) indexLive(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	idx := "logs-nginx.access-2026.03.02"
	if code, out := s.osJSON(t, http.MethodPut, "/"+idx, []byte(liveMapping)); code != http.StatusOK {
		t.Fatalf("create %s: %d %v", idx, code, out)
	}
	src, err := source.OpenArchive(ctx, "file://"+s.archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	files, _, err := src.Plan(ctx, []string{"nginx.access"}, day2, day3)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	for _, f := range files {
		if err := src.Read(ctx, f, func(r source.Record, _ int64) error {
			body.WriteString(`{"index":{}}` + "\n")
			body.Write(r.Doc)
			body.WriteByte('\n')
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := s.osJSON(t, http.MethodPost, "/"+idx+"/_bulk?refresh=true", body.Bytes()); code != http.StatusOK || out["errors"] != false {
		t.Fatalf("bulk into %s: %d %v", idx, code, out["errors"])
	}
}

// Proof 5: a person creates a replay in the page, opens it, searches with
// the histogram, pages, searches live data and deletes the replay.
func (s *suite) webPage(t *testing.T) {
	s.indexLive(t)
	gw, err := api.New(context.Background(), api.Config{ReplayEndpoint: s.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	if err := gatewayapp.MountPages(gw); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	base := srv.URL

	browser := headless.Browser(t)
	// Logged in as alice: the token handed over in the fragment, which the
	// page keeps in the tab's session storage; she is the creator because
	// her token says so.
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/replays/#token="+harness.Token(t, harness.Alice))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, text)
		}
	}
	poll := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, text)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}

	// Create: name, dataset, time range, query; the estimate first.
	do("fill the form",
		chromedp.WaitVisible(chromedp.CSS("#create-form")),
		chromedp.SetValue(chromedp.CSS("#c-name"), "web-errors"),
		chromedp.SetValue(chromedp.CSS("#c-datasets"), "nginx.access"),
		chromedp.SetValue(chromedp.CSS("#c-from"), "2026-03-02T00:00"),
		chromedp.SetValue(chromedp.CSS("#c-to"), "2026-03-03T00:00"),
		chromedp.SetValue(chromedp.CSS("#c-query"), "log.level:error"),
		chromedp.Click(chromedp.CSS("#estimate")))
	poll("estimate shown", `document.querySelector("#create-msg").textContent.includes("Would read 4 files")`)
	do("create", chromedp.Click(chromedp.CSS("#create")))
	poll("replay listed as ready", `!!document.querySelector('tr[data-replay="web-errors"][data-state="STATE_READY"]')`)
	row := text(`tr[data-replay="web-errors"]`)
	if !strings.Contains(row, "alice") || !strings.Contains(row, "100") {
		t.Errorf("replay row: %q, want creator alice and 100 events", row)
	}
	headless.Screenshot(t, ctx, "replay-list.png")

	// Open it: the search page with the histogram and a page of events.
	// The link loads the search page: wait for its table before polling it.
	do("open the replay",
		chromedp.Click(chromedp.CSS(`tr[data-replay="web-errors"] a.open`)),
		chromedp.WaitVisible(chromedp.CSS("#search-view #events tr.event")))
	poll("events shown", `document.querySelectorAll("#events tr.event").length === 50 && document.querySelectorAll("#histogram rect").length > 0`)
	if got := text("#total"); got != "100 events" {
		t.Errorf("total: %q", got)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/search?") || !strings.Contains(loc, "replay=web-errors") {
		t.Errorf("search page at %q", loc)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("#histogram rect[data-count]")].reduce((n, r) => n + Number(r.dataset.count), 0)`))
	if err != nil || bars != 100 {
		t.Errorf("histogram counts %d events (%v), want 100", bars, err)
	}
	do("expand an event", chromedp.Click(chromedp.CSS("#events tr.event")))
	if fields := text("#events tr.fields"); !strings.Contains(fields, "log.file.path\t/var/log/nginx.access.log") {
		t.Errorf("event fields: %q", fields)
	}
	headless.Screenshot(t, ctx, "replay-search.png")
	do("next page", chromedp.Click(chromedp.CSS("#next")))
	poll("second page", `document.querySelector("#page").textContent.startsWith("51")`)
	headless.Screenshot(t, ctx, "replay-search-page2.png")

	// A query typed in the page narrows the replay's results.
	do("search a phrase",
		chromedp.SetValue(chromedp.CSS("#s-query"), `"served by web" AND service.name:web`),
		chromedp.Click(chromedp.CSS("#search")))
	poll("phrase results", `document.querySelector("#total").textContent === "100 events" && document.querySelector("#page").textContent.startsWith("1–")`)

	// Live data, through a link of the agreed form.
	q := "/search?q=service.name%3Aapi&from=2026-03-02T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z"
	do("open live search", chromedp.Navigate(base+q), chromedp.WaitVisible(chromedp.CSS("#search-view #events tr.event")))
	wantLive := len(replaytest.IDs(s.events, func(e replaytest.Event) bool {
		return e.Dataset == "nginx.access" && e.Service == "api" && !e.Time.Before(day2) && e.Time.Before(day3)
	}))
	poll("live results", fmt.Sprintf(`document.querySelector("#total").textContent === "%d events"`, wantLive))
	headless.Screenshot(t, ctx, "live-search.png")

	// Delete it from the list (the button asks once more).
	do("delete",
		chromedp.Navigate(base+"/replays/"),
		chromedp.WaitVisible(chromedp.CSS(`button[data-replay="web-errors"]`)),
		chromedp.Click(chromedp.CSS(`button[data-replay="web-errors"]`)),
		chromedp.Click(chromedp.CSS(`button[data-replay="web-errors"]`)))
	poll("replay gone from the list", `!document.querySelector('tr[data-replay="web-errors"]')`)
	if _, err := s.cli.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: "web-errors"}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted in the page, but Get says %v", err)
	}
	headless.Screenshot(t, ctx, "replay-deleted.png")
}
