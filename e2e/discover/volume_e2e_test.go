// The volume watch against the all-in-one with its demo, on 10 s buckets:
// the test writes two JSON datasets of its own at a steady 20 lines a
// second beside the demo's traffic, then stops one at a bucket boundary (a
// drop must show within 2 buckets) and multiplies the other by 10 (a spike,
// within 2 buckets), and checks that no steady series had an anomaly; then
// the /volume page in headless Chromium: a sparkline per dataset with both
// anomalies marked, the list of anomalies, the services' and hosts' series
// (the silent host), and the keyboard.
package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hindsight-dev/hindsight/internal/headless"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

const (
	volBucket = 10 * time.Second
	steadyDS  = "e2e-steady" // stopped
	burstDS   = "e2e-burst"  // bursts 10x
	perTick   = 5            // lines a 250 ms tick: 200 a bucket
)

// writer appends JSON lines to one dataset's inbox file every 250 ms,
// factor × perTick of them (0: stopped), each timed when it is written.
type writer struct {
	factor  atomic.Int64
	written atomic.Int64
}

func (w *writer) run(ctx context.Context, t *testing.T, inbox, dataset string) {
	dir := filepath.Join(inbox, dataset)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Error(err)
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "writer.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; {
		var buf bytes.Buffer
		for range w.factor.Load() * perTick {
			i++
			b, _ := json.Marshal(map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
				"service": "e2e-writer", "level": "info", "message": fmt.Sprintf("%s line %d", dataset, i)})
			buf.Write(append(b, '\n'))
		}
		if buf.Len() > 0 {
			if _, err := f.Write(buf.Bytes()); err != nil {
				t.Error(err)
				return
			}
			w.written.Add(int64(bytes.Count(buf.Bytes(), []byte{'\n'})))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// setFactorAtBoundary sets the factor 100 ms before the next bucket
// boundary (a tick under way still writes at the old rate, timed before
// it), so the bucket after holds only the new rate; it returns the boundary.
func (w *writer) setFactorAtBoundary(factor int64) time.Time {
	b := time.Now().Add(time.Second).Truncate(volBucket).Add(volBucket)
	time.Sleep(time.Until(b.Add(-100 * time.Millisecond)))
	w.factor.Store(factor)
	return b
}

type volumeAnomaly struct {
	Dataset, Service, Host, Kind string
	Start, End                   time.Time
	Count                        string
	Expected                     float64
}

type volumeResp struct {
	Bucket string
	Start  time.Time
	Series []struct {
		Dataset, Service, Host string
		Counts                 []string
		Expected               float64
		Anomalies              []volumeAnomaly
	}
	Active []volumeAnomaly
}

func listVolume(t *testing.T, base, query string) volumeResp {
	t.Helper()
	resp, err := http.Get(base + "/v1/volume?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v volumeResp
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("GET /v1/volume?%s: %s %s", query, resp.Status, b.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func createJSONDataset(t *testing.T, base, name string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"description":"volume e2e","parser":{"format":"FORMAT_JSON"}}`, name)
	resp, err := http.Post(base+"/v1/datasets", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create dataset %s: %s", name, resp.Status)
	}
}

func TestVolumeWatch(t *testing.T) {
	// 10 s buckets, judged after 6; syslog's 0-1 lines a second (about 5
	// a bucket) is below min-expected, so not judged: nginx.access and app
	// (50-140 a bucket) and the test's datasets (200) are.
	base, inbox := start(t, "--topology.volume-bucket="+volBucket.String(), "--topology.volume-warmup=6", "--topology.volume-min-expected=20")
	for _, ds := range []string{steadyDS, burstDS} {
		createJSONDataset(t, base, ds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steady, burst writer
	for _, w := range []struct {
		w  *writer
		ds string
	}{{&steady, steadyDS}, {&burst, burstDS}} {
		w.w.factor.Store(1)
		go w.w.run(ctx, t, inbox, w.ds)
	}

	// Learned: both series have a baseline.
	polltest.True(t, "a baseline for the test's datasets", 4*time.Minute, func() bool {
		learned := 0
		for _, s := range listVolume(t, base, "buckets=5").Series {
			if (s.Dataset == steadyDS || s.Dataset == burstDS) && s.Expected >= 100 {
				learned++
			}
		}
		return learned == 2
	})
	page := headless.Browser(t)
	if err := chromedp.Do(page, chromedp.Navigate(base+"/volume")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, page, "sparklines", `document.querySelectorAll("#series li svg.spark polyline").length >= 4`)
	headless.Screenshot(t, page, "volume-steady.png")

	// Stop one dataset's writer at a bucket boundary: the next bucket is
	// empty from its start, and the drop must show within 2 buckets.
	stop := steady.setFactorAtBoundary(0)
	polltest.True(t, "the drop of "+steadyDS, 3*volBucket, func() bool {
		for _, a := range listVolume(t, base, "dataset="+steadyDS).Active {
			if a.Kind == "ANOMALY_KIND_DROP" && a.Service == "" && a.Host == "" {
				if !a.Start.Equal(stop) {
					t.Fatalf("the drop starts at %s, the writer stopped at %s", a.Start, stop)
				}
				return true
			}
		}
		return false
	})
	delay := time.Since(stop)
	t.Logf("drop: shown %v after the bucket boundary the writer stopped at (bucket %v)", delay.Round(time.Millisecond), volBucket)
	if delay > 2*volBucket {
		t.Fatalf("the drop showed %v after the stop, more than 2 buckets", delay)
	}

	// A tenfold burst of the other dataset: a spike within 2 buckets.
	burstAt := burst.setFactorAtBoundary(10)
	polltest.True(t, "the spike of "+burstDS, 3*volBucket, func() bool {
		for _, a := range listVolume(t, base, "dataset="+burstDS).Active {
			if a.Kind == "ANOMALY_KIND_SPIKE" && a.Service == "" && a.Host == "" {
				if !a.Start.Equal(burstAt) {
					t.Fatalf("the spike starts at %s, the burst at %s", a.Start, burstAt)
				}
				return true
			}
		}
		return false
	})
	spikeDelay := time.Since(burstAt)
	t.Logf("spike: shown %v after the bucket boundary the burst began at", spikeDelay.Round(time.Millisecond))
	if spikeDelay > 2*volBucket {
		t.Fatalf("the spike showed %v after the burst began, more than 2 buckets", spikeDelay)
	}

	// No false positives: every anomaly of the whole run is one of the two,
	// and the demo's steady datasets were judged (they have a baseline).
	all := listVolume(t, base, "buckets=1440&breakdown=true")
	for _, s := range all.Series {
		if (s.Dataset == "nginx.access" || s.Dataset == "app") && s.Service == "" && s.Host == "" && s.Expected < 20 {
			t.Errorf("%s expects %v a bucket: not judged", s.Dataset, s.Expected)
		}
		for _, a := range s.Anomalies {
			switch {
			case a.Dataset == steadyDS && (a.Kind == "ANOMALY_KIND_DROP" || a.Kind == "ANOMALY_KIND_SILENCE") && a.Start.Equal(stop):
			case a.Dataset == burstDS && a.Kind == "ANOMALY_KIND_SPIKE" && a.Start.Equal(burstAt):
			default:
				t.Errorf("false positive: %+v", a)
			}
		}
	}

	// The page: both anomalies marked on their sparklines and listed.
	waitPage(t, page, "marked anomalies", fmt.Sprintf(`document.querySelector('#series li[data-dataset=%q] rect.mark[data-kind="drop"]') !== null &&
		document.querySelector('#series li[data-dataset=%q] rect.mark[data-kind="spike"]') !== null &&
		document.querySelectorAll("#active tr.anomaly").length === 2`, steadyDS, burstDS))
	var rows []string
	js(t, page, `[...document.querySelectorAll("#active tr.anomaly")].map(tr => tr.textContent)`, &rows)
	if !strings.Contains(strings.Join(rows, "|"), "drop"+steadyDS) || !strings.Contains(strings.Join(rows, "|"), "spike"+burstDS) {
		t.Fatalf("anomalies listed: %q", rows)
	}
	headless.Screenshot(t, page, "volume-anomalies.png")

	// Services and hosts (the URL holds the view): the stopped dataset's
	// host went silent.
	run(t, page, "breakdown", chromedp.Click("#breakdown"))
	waitPage(t, page, "the silent host", fmt.Sprintf(`location.search === "?breakdown=1" &&
		document.querySelector('#series li.sub[data-dataset=%q] rect.mark[data-kind="silence"]') !== null`, steadyDS))
	headless.Screenshot(t, page, "volume-breakdown.png")
	run(t, page, "datasets only", chromedp.Navigate(base+"/volume"))
	waitPage(t, page, "datasets only", `document.querySelectorAll("#series li").length > 0 && document.querySelector("#series li.sub") === null`)

	// Keyboard: focus the list, move down to the stopped dataset, Enter
	// opens its search.
	run(t, page, "focus", chromedp.Focus("#series"))
	var idx int
	js(t, page, fmt.Sprintf(`[...document.querySelectorAll("#series li")].findIndex(li => li.dataset.dataset === %q)`, steadyDS), &idx)
	for range idx {
		run(t, page, "down", chromedp.KeyEvent(kb.ArrowDown))
	}
	var sel string
	js(t, page, `document.querySelector('#series li[aria-selected="true"]').dataset.dataset`, &sel)
	if sel != steadyDS {
		t.Fatalf("after %d × ArrowDown the selected series is %q", idx, sel)
	}
	run(t, page, "enter", chromedp.KeyEvent(kb.Enter))
	waitPage(t, page, "search of the series", fmt.Sprintf(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === 'data_stream.dataset:"%s"'`, steadyDS))
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		headless.Screenshot(t, ctx, "volume-failed.png")
		t.Fatalf("%s: %v", what, err)
	}
}

func js(t *testing.T, ctx context.Context, expr string, out any) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err == nil {
		err = json.Unmarshal(v, out)
	}
	if err != nil {
		headless.Screenshot(t, ctx, "volume-failed.png")
		t.Fatalf("%s: %v", expr, err)
	}
}

// waitPage polls cond on the page for 30 s.
func waitPage(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, time.Until(deadline)+5*time.Second)
		_, err := chromedp.Run(c, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err != nil && strings.Contains(err.Error(), "Cannot find context") && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			headless.Screenshot(t, ctx, "volume-failed.png")
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
}
