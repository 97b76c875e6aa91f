// End-to-end: HAProxy follows membership. Three web containers registered
// purely from their Docker labels by the agent (running as a container with
// the engine's socket), the membership service probing their health, and the
// renderer inside the HAProxy container rewriting haproxy.cfg and reloading
// HAProxy. Measurements are printed with t.Logf.
package loadbalancer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/e2e/loadbalancer/lbcluster"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestMain(m *testing.M) { harness.Main(m) }

// The line HAProxy's master prints when a reload is in effect, and the one it
// prints when it starts one.
const (
	reloaded  = "Loading success."
	reloading = "Reloading HAProxy"
)

func TestHAProxyFollowsMembership(t *testing.T) {
	c := lbcluster.Start(t)
	var webs []*lbcluster.Web
	for i := 1; i <= 3; i++ {
		webs = append(webs, c.StartWeb(t, fmt.Sprintf("web-%d", i), "", lbcluster.WebLabels(nil), nil))
	}
	base := []string{webs[0].Name, webs[1].Name, webs[2].Name}
	c.WaitServers(t, 10*time.Second, func(s []string) bool { return slices.Equal(s, base) })
	// The file is written before HAProxy reloads: wait until it serves all three.
	polltest.Until(t, "HAProxy to serve all three", 5*time.Second, func() (bool, string) {
		s := served(c.LBURL, 3)
		return len(s) == 3, fmt.Sprint(s)
	})

	t.Run("round robin across three", func(t *testing.T) {
		// Every request a new connection (as many clients would).
		counts := map[string]int{}
		var order []string
		for i := 0; i < 30; i++ {
			name, err := get(c.LBURL)
			if err != nil {
				t.Fatal(err)
			}
			counts[name]++
			order = append(order, name)
		}
		t.Logf("30 requests through HAProxy: %v", counts)
		for _, w := range webs {
			if counts[w.Name] != 10 {
				t.Fatalf("requests per backend %v, want 10 each (round robin); order %v", counts, order)
			}
		}
		for i := 3; i < len(order); i++ {
			if order[i] != order[i-3] {
				t.Fatalf("not a rotation: %v", order)
			}
		}
	})

	load := startLoad(t, c.LBURL)

	t.Run("kill leaves the config and reloads, 20 trials", func(t *testing.T) {
		var killLat, joinLat []time.Duration
		var errorsDuringKill, slowDuringKill int
		for i := 0; i < 20; i++ {
			v := c.StartWeb(t, fmt.Sprintf("victim-%d", i), "", lbcluster.WebLabels(nil), nil)
			join, ok := c.LBLog.Wait(v.Started, reloaded, 5*time.Second)
			if !ok {
				t.Fatalf("trial %d: no reload after %s started", i, v.Name)
			}
			if s := lbcluster.Servers(c.Config(t)); !slices.Contains(s, v.Name) {
				t.Fatalf("trial %d: %s not in haproxy.cfg after the reload: %v", i, v.Name, s)
			}
			joinLat = append(joinLat, join.Time.Sub(v.Started))
			time.Sleep(300 * time.Millisecond) // traffic reaches the new member
			killed := c.Kill(t, v)
			rl, ok := c.LBLog.Wait(killed, reloaded, 5*time.Second)
			if !ok {
				t.Fatalf("trial %d: no reload within 5s of killing %s", i, v.Name)
			}
			lat := rl.Time.Sub(killed)
			killLat = append(killLat, lat)
			if s := lbcluster.Servers(c.Config(t)); slices.Contains(s, v.Name) || !slices.Equal(s, base) {
				t.Fatalf("trial %d: haproxy.cfg servers after the reload %v, want %v", i, s, base)
			}
			time.Sleep(300 * time.Millisecond)
			errs, slow, total := load.between(killed, rl.Time.Add(200*time.Millisecond))
			errorsDuringKill += errs
			slowDuringKill += slow
			t.Logf("trial %2d: kill -> HAProxy reloaded %4dms; join -> reloaded %4dms; requests in the window %d, errors %d, slower than 400ms %d",
				i, lat.Milliseconds(), joinLat[i].Milliseconds(), total, errs, slow)
			for _, e := range load.errorsBetween(killed, rl.Time.Add(200*time.Millisecond)) {
				t.Logf("          error: %s", e)
			}
		}
		p50, p99 := percentiles(killLat)
		j50, j99 := percentiles(joinLat)
		t.Logf("MEASURED kill -> HAProxy reloaded without it, 20 trials: p50 %dms p99 %dms (max %dms); errors seen by the request loop during the kills: %d (slow >400ms: %d)",
			p50.Milliseconds(), p99.Milliseconds(), slices.Max(killLat).Milliseconds(), errorsDuringKill, slowDuringKill)
		t.Logf("MEASURED container start -> HAProxy reloaded with it, 20 trials: p50 %dms p99 %dms", j50.Milliseconds(), j99.Milliseconds())
		t.Logf("renderer's own watch-to-reload histogram: %v observations, sum %.3fs",
			c.RenderMetric(t, "hindsight_render_watch_to_reload_seconds_count"), c.RenderMetric(t, "hindsight_render_watch_to_reload_seconds_sum"))
		if p99 >= 2*time.Second {
			t.Fatalf("kill -> reload p99 %s, want < 2s", p99)
		}
		if errorsDuringKill > 20 {
			t.Fatalf("%d request errors during 20 kills", errorsDuringKill)
		}
	})

	t.Run("a new labelled container joins within 2s", func(t *testing.T) {
		w := c.StartWeb(t, "joiner", "", lbcluster.WebLabels(nil), nil)
		rl, ok := c.LBLog.Wait(w.Started, reloaded, 2*time.Second)
		if !ok {
			t.Fatalf("no reload within 2s of %s starting", w.Name)
		}
		want := append(slices.Clone(base), w.Name)
		slices.Sort(want)
		if s := lbcluster.Servers(c.Config(t)); !slices.Equal(s, want) {
			t.Fatalf("servers %v, want %v", s, want)
		}
		t.Logf("MEASURED join: container started -> in haproxy.cfg and HAProxy reloaded in %dms", rl.Time.Sub(w.Started).Milliseconds())
		polltest.True(t, "HAProxy to send a request to the new member", 5*time.Second, func() bool { return served(c.LBURL, 12)[w.Name] > 0 })
		c.Kill(t, w)
		c.WaitServers(t, 2*time.Second, func(s []string) bool { return slices.Equal(s, base) })
	})

	t.Run("failing health check takes a member out and back", func(t *testing.T) {
		w := webs[2]
		start := time.Now()
		w.SetHealthy(t, false)
		c.WaitServers(t, 5*time.Second, func(s []string) bool { return !slices.Contains(s, w.Name) && len(s) == 2 })
		out := time.Since(start)
		// (HAProxy reloads just after the file is written.)
		polltest.Until(t, "unhealthy "+w.Name+" no longer served", 2*time.Second, func() (bool, string) {
			s := served(c.LBURL, 12)
			return s[w.Name] == 0, fmt.Sprint(s)
		})
		// It was marked down, not deleted.
		list, err := c.Members.ListMembers(context.Background(), &membershipv1.ListMembersRequest{Service: lbcluster.Service})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range list.Members {
			if m.Id == w.Name {
				found = m.Health == membershipv1.Health_HEALTH_UNHEALTHY
			}
		}
		if !found {
			t.Fatalf("%s is not listed as UNHEALTHY: %v", w.Name, list.Members)
		}
		start = time.Now()
		w.SetHealthy(t, true)
		c.WaitServers(t, 5*time.Second, func(s []string) bool { return slices.Equal(s, base) })
		back := time.Since(start)
		t.Logf("MEASURED health (interval 500ms, threshold 2): out of haproxy.cfg %dms after /healthz turned 503, back %dms after it recovered",
			out.Milliseconds(), back.Milliseconds())
	})

	t.Run("invalid config is rejected and HAProxy keeps serving", func(t *testing.T) {
		failures := c.RenderMetric(t, "hindsight_render_check_failures_total")
		before := c.Config(t)
		since := time.Now()
		// "weight 1000" renders a server line HAProxy's check refuses (0-256).
		bad := c.StartWeb(t, "bad-weight", "", lbcluster.WebLabels(map[string]string{"hindsight.label.weight": "1000"}), nil)
		polltest.True(t, "the renderer to report a check failure", 5*time.Second, func() bool { return c.RenderMetric(t, "hindsight_render_check_failures_total") > failures })
		if after := c.Config(t); after != before {
			t.Fatalf("haproxy.cfg changed although the check failed:\n%s", after)
		}
		st := c.RenderStatus(t)
		if len(st) != 1 || st[0]["ok"] != false || st[0]["stage"] != "check" {
			t.Fatalf("render /status = %v, want the check failure", st)
		}
		t.Logf("renderer reports: %.300s", st[0]["error"])
		if ls := c.LBLog.Lines(since, "render failed"); len(ls) == 0 {
			t.Fatal("no error logged")
		}
		if ls := c.LBLog.Lines(since, reloading); len(ls) != 0 {
			t.Fatalf("HAProxy reloaded although the check failed: %v", ls)
		}
		// (The request loop shares the rotation, so the split is not exact.)
		counts := served(c.LBURL, 12)
		for _, w := range webs {
			if counts[w.Name] == 0 || counts["error"] > 0 || len(counts) != 3 {
				t.Fatalf("HAProxy serving %v, want requests on each of the three and no error", counts)
			}
		}
		errs, _, total := load.between(since, time.Now())
		t.Logf("while the config was rejected: %d requests, %d errors", total, errs)
		if errs > 0 {
			t.Fatalf("%d request errors while the old config was kept", errs)
		}
		// The bad member leaves: the renderer recovers (its output equals the old file).
		c.Kill(t, bad)
		polltest.Until(t, "the renderer to recover after the bad member left", 5*time.Second, func() (bool, string) {
			s := c.RenderStatus(t)
			return len(s) == 1 && s[0]["ok"] == true, fmt.Sprint(s)
		})
	})

	t.Run("a burst of ten changes is debounced", func(t *testing.T) {
		ctx := context.Background()
		// allowed is how many reloads the debounce (wait {min: 100ms, max: 1s}
		// in render.yaml) may make for changes at these times: one, plus one
		// for each pause long enough for a quiet period (half of min, for
		// the watch's delivery jitter), plus one for each max that passed.
		// At this machine's load ten calls meant to take 100 ms can take
		// 500 ms, with pauses the renderer is right to render in.
		allowed := func(at []time.Time) int {
			n := 1 + int(at[len(at)-1].Sub(at[0])/time.Second)
			for i := 1; i < len(at); i++ {
				if at[i].Sub(at[i-1]) >= 50*time.Millisecond {
					n++
				}
			}
			return min(n, len(at))
		}
		burst := func(register bool) (reloads int, took time.Duration, limit int) {
			since := time.Now()
			var at []time.Time
			for i := 0; i < 10; i++ {
				id := fmt.Sprintf("burst-%d", i)
				var err error
				if register {
					_, err = c.Members.Register(ctx, &membershipv1.RegisterRequest{
						Member: &membershipv1.Member{Service: lbcluster.Service, Id: id, Address: webs[i%3].IP, Port: 8080},
						Ttl:    durationpb.New(time.Minute),
					})
				} else {
					_, err = c.Members.Deregister(ctx, &membershipv1.DeregisterRequest{Service: lbcluster.Service, Id: id})
				}
				if err != nil {
					t.Fatal(err)
				}
				at = append(at, time.Now())
				time.Sleep(10 * time.Millisecond)
			}
			took = time.Since(since)
			time.Sleep(2 * time.Second) // well past wait.max
			return len(c.LBLog.Lines(since, reloading)), took, allowed(at)
		}
		n, took, nLimit := burst(true)
		want := slices.Clone(base)
		for i := 0; i < 10; i++ {
			want = append(want, fmt.Sprintf("burst-%d", i))
		}
		slices.Sort(want)
		if s := lbcluster.Servers(c.Config(t)); !slices.Equal(s, want) {
			t.Fatalf("servers after the burst %v, want %v", s, want)
		}
		m, took2, mLimit := burst(false)
		if s := lbcluster.Servers(c.Config(t)); !slices.Equal(s, base) {
			t.Fatalf("servers after removing the burst %v, want %v", s, base)
		}
		t.Logf("MEASURED debounce: 10 registrations in %dms -> %d HAProxy reload(s) (at most %d for their pauses); 10 deregistrations in %dms -> %d reload(s) (at most %d)",
			took.Milliseconds(), n, nLimit, took2.Milliseconds(), m, mLimit)
		if n < 1 || n > max(2, nLimit) || m < 1 || m > max(2, mLimit) {
			t.Fatalf("reloads %d and %d, want 1 to %d and 1 to %d", n, m, max(2, nLimit), max(2, mLimit))
		}
	})

	errs, _, total := load.between(time.Time{}, time.Now())
	t.Logf("request loop over the whole test: %d requests, %d errors", total, errs)
}

// get sends one request on a new connection and returns the body (the backend's name).
func get(url string) (string, error) {
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), nil
}

var noKeepAlive = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// served sends n requests and counts them per backend.
func served(url string, n int) map[string]int {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		if name, err := get(url); err == nil {
			counts[name]++
		} else {
			counts["error"]++
		}
	}
	return counts
}

// percentiles returns p50 and p99 (nearest rank).
func percentiles(d []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return rank(0.50), rank(0.99)
}

// loadLoop sends requests through HAProxy continuously, one at a time on new
// connections, and records each one's outcome.
type loadLoop struct {
	mu      sync.Mutex
	results []result
}

type result struct {
	at   time.Time
	took time.Duration
	err  error
}

func startLoad(t *testing.T, url string) *loadLoop {
	l := &loadLoop{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			start := time.Now()
			_, err := get(url)
			l.mu.Lock()
			l.results = append(l.results, result{start, time.Since(start), err})
			l.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// errorsBetween returns the errors of the requests started in [from, to].
func (l *loadLoop) errorsBetween(from, to time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.results {
		if r.err != nil && !r.at.Before(from) && !r.at.After(to) {
			out = append(out, fmt.Sprintf("%s after %s: %v", r.at.Format("15:04:05.000"), r.took.Round(time.Millisecond), r.err))
		}
	}
	return out
}

// between counts the requests started in [from, to]: errors, slow ones, all.
func (l *loadLoop) between(from, to time.Time) (errs, slow, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.results {
		if r.at.Before(from) || r.at.After(to) {
			continue
		}
		total++
		if r.err != nil {
			errs++
		} else if r.took > 400*time.Millisecond {
			slow++
		}
	}
	return
}
