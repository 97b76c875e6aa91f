// Benchmark (not a timed test; its Bazel target is manual): how long after a
// member is killed does the load balancer stop using it, next to how long
// serf (HashiCorp's gossip failure detector, Debian's package, default LAN
// settings) takes to report the same member failed to a member-failed
// handler, measured on the same kills in the same run.
//
// Each backend container runs our web server and a serf agent; an observer
// serf agent runs a handler that prints the failed member's name. Hindsight's
// path is the agent seeing the kill in the engine's events, membership
// dropping the member, the renderer rewriting haproxy.cfg and HAProxy
// reloading. A second round pauses members instead (a hang the engine does
// not report), where Hindsight relies on its health probes. Both are timed from the docker kill call to a log line stamped
// by the engine (HAProxy's "Loading success.", the handler's output).
//
// Run: e2e/bench/membership_failover.sh (BENCH_TRIALS=20 by default).
package bench_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/e2e/loadbalancer/lbcluster"
)

func TestMain(m *testing.M) { harness.Main(m) }

const (
	serfImage      = "hindsight-e2e/serf:0"
	benchWebImage  = "hindsight-e2e-test/web-serf:latest"
	observerAlias  = "serf-observer"
	reloadedMarker = "Loading success."
)

// handler is serf's event handler on the observer: one line per member, on
// the container's output (PID 1's stdout), so the engine stamps it.
const handler = `#!/bin/bash
while read -r name addr role tags; do
  echo "serf-event $SERF_EVENT $name" >/proc/1/fd/1
done
`

// webEntrypoint runs a serf agent next to the web server; docker kill ends both.
const webEntrypoint = `#!/bin/bash
serf agent -node="$WEB_NAME" -join=` + observerAlias + ` -log-level=warn &
exec /usr/local/bin/web
`

const dockerfile = `FROM ` + serfImage + `
COPY web handler.sh web-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/web-entrypoint.sh"]
`

func TestFailoverVersusSerf(t *testing.T) {
	trials := 20
	if v, err := strconv.Atoi(os.Getenv("BENCH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	harness.RequireImage(t, serfImage)
	docker, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	web, err := lbcluster.Binary("e2e/loadbalancer/testdata/web/web_/web")
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(web)
	if err != nil {
		t.Fatal(err)
	}
	lbcluster.BuildImage(t, docker, benchWebImage, map[string]lbcluster.File{
		"Dockerfile":        {Data: []byte(dockerfile)},
		"web":               {Data: wb, Exec: true},
		"handler.sh":        {Data: []byte(handler), Exec: true},
		"web-entrypoint.sh": {Data: []byte(webEntrypoint), Exec: true},
	})

	c := lbcluster.Start(t)
	// The observer: a serf agent with default LAN settings and the handler.
	obs := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image:          benchWebImage,
		Networks:       []string{c.Network},
		NetworkAliases: map[string][]string{c.Network: {observerAlias}},
		Entrypoint:     []string{"/usr/bin/serf"},
		Cmd:            []string{"agent", "-node=observer", "-event-handler=member-join,member-failed=/usr/local/bin/handler.sh", "-log-level=warn"},
		WaitingFor:     wait.ForLog("Serf agent running").WithStartupTimeout(30 * time.Second),
	})
	obsLog := lbcluster.Follow(t, docker, obs.GetContainerID())

	var base []string
	for i := 1; i <= 3; i++ {
		w := c.StartWeb(t, fmt.Sprintf("web-%d", i), benchWebImage, lbcluster.WebLabels(nil), nil)
		base = append(base, w.Name)
	}
	slices.Sort(base)
	c.WaitServers(t, 10*time.Second, func(s []string) bool { return slices.Equal(s, base) })

	// A kill: the engine reports it, so the agent deregisters at once.
	ours, serf := measure(t, c, obsLog, trials, "kill", func(v *lbcluster.Web) time.Time { return c.Kill(t, v) })
	report(t, "kill (docker kill: the engine reports it)", ours, serf)

	// A hang: docker pause freezes the member without any event the agent
	// acts on, like a hung process or a host cut off from the network; only
	// the membership service's health probe (interval 500ms, threshold 2)
	// can tell. serf sees the same silence.
	ours, serf = measure(t, c, obsLog, trials, "pause", func(v *lbcluster.Web) time.Time {
		at := time.Now()
		if _, err := docker.ContainerPause(context.Background(), v.Container.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
			t.Fatalf("pause %s: %v", v.Name, err)
		}
		t.Cleanup(func() {
			docker.ContainerUnpause(context.Background(), v.Container.GetContainerID(), client.ContainerUnpauseOptions{})
		})
		return at
	})
	report(t, "hang (docker pause: only probes can tell)", ours, serf)
}

// measure starts a victim per trial, fails it with fail, and times both
// detectors from the failure to their log line.
func measure(t *testing.T, c *lbcluster.Cluster, obsLog *lbcluster.LogFollower, trials int, mode string, fail func(*lbcluster.Web) time.Time) (ours, serf []time.Duration) {
	t.Helper()
	for i := 0; i < trials; i++ {
		v := c.StartWeb(t, fmt.Sprintf("%s-%d", mode, i), benchWebImage, lbcluster.WebLabels(nil), nil)
		if _, ok := c.LBLog.Wait(v.Started, reloadedMarker, 5*time.Second); !ok {
			t.Fatalf("%s trial %d: %s never reached HAProxy", mode, i, v.Name)
		}
		if _, ok := obsLog.Wait(v.Started, "serf-event member-join "+v.Name, 10*time.Second); !ok {
			t.Fatalf("%s trial %d: %s never joined serf", mode, i, v.Name)
		}
		time.Sleep(time.Second) // let gossip and probes settle
		at := fail(v)
		rl, ok := c.LBLog.Wait(at, reloadedMarker, 10*time.Second)
		if !ok {
			t.Fatalf("%s trial %d: HAProxy not reloaded within 10s", mode, i)
		}
		if s := lbcluster.Servers(c.Config(t)); slices.Contains(s, v.Name) {
			t.Fatalf("%s trial %d: %s still in haproxy.cfg after the reload", mode, i, v.Name)
		}
		sf, ok := obsLog.Wait(at, "serf-event member-failed "+v.Name, 60*time.Second)
		if !ok {
			t.Fatalf("%s trial %d: serf reported no failure within 60s", mode, i)
		}
		ours = append(ours, rl.Time.Sub(at))
		serf = append(serf, sf.Time.Sub(at))
		t.Logf("%s trial %2d: hindsight -> HAProxy reloaded without it %5dms | serf -> member-failed handler %5dms",
			mode, i, ours[i].Milliseconds(), serf[i].Milliseconds())
	}
	return ours, serf
}

func report(t *testing.T, what string, ours, serf []time.Duration) {
	o, s := summarize(ours), summarize(serf)
	t.Logf("BENCH failure-to-config after a %s, %d trials, same members, same run (ms):", what, len(ours))
	t.Logf("BENCH   %-10s %s", "hindsight", o)
	t.Logf("BENCH   %-10s %s", "serf", s)
	t.Logf("BENCH   ratio serf/hindsight: p50 %.1fx, p99 %.1fx, mean %.1fx", ratio(s.p50, o.p50), ratio(s.p99, o.p99), ratio(s.mean, o.mean))
	fmt.Printf("%s hindsight_ms=%s\n%s serf_ms=%s\n", strings.Fields(what)[0], join(ours), strings.Fields(what)[0], join(serf))
}

type stats struct{ min, p50, p90, p99, max, mean time.Duration }

func (s stats) String() string {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return fmt.Sprintf("min %5d  p50 %5d  p90 %5d  p99 %5d  max %5d  mean %5d", ms(s.min), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), ms(s.mean))
}

func summarize(d []time.Duration) stats {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return stats{s[0], rank(.5), rank(.9), rank(.99), s[len(s)-1], sum / time.Duration(len(s))}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

func join(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, strconv.FormatInt(x.Milliseconds(), 10))
	}
	return strings.Join(parts, ",")
}
