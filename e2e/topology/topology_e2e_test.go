// End-to-end: a demo system of our own images (frontend → api → real Redis and
// real PostgreSQL, from Debian's packages) under load from this test, watched
// by the agent's passive capture, which feeds the topology service. Nothing
// in the demo is instrumented: the graph comes from the wire.
//
// The agent runs as Hindsight would on a node: a container in the host's
// network namespace (where the Docker bridges are), with CAP_NET_RAW and
// CAP_NET_ADMIN and the Docker socket, capturing on the bridge of the demo's
// network. The topology service and the gateway serving the page live on
// another network, so their own traffic is not part of the graph.
package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/headless"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Images built by e2e/images/build.sh.
const (
	redisImage    = "hindsight-e2e/redis:7"
	postgresImage = "hindsight-e2e/postgres:15"
)

// Timings of the topology service in this suite (the defaults are 5s and 30s).
const (
	staleAfter = 3 * time.Second
	fadeAfter  = 12 * time.Second
)

// Injected failures: every 20th request answers 500, every 25th sends a Redis
// command Redis rejects, every 50th runs a failing query.
const (
	failEvery       = 20
	redisErrorEvery = 25
	pgErrorEvery    = 50
)

type demo struct {
	nw                   *testcontainers.DockerNetwork
	topology, agent, api testcontainers.Container
	frontend             testcontainers.Container
	frontendURL          string
	gatewayURL           string
	graph                topologyv1.TopologyServiceClient
	containers           map[string]testcontainers.Container
}

func startDemo(t *testing.T, withGateway bool) *demo {
	t.Helper()
	ctx := context.Background()
	d := &demo{nw: harness.Network(t), containers: map[string]testcontainers.Container{}}
	ui := harness.Network(t)

	// The topology service (and the gateway) on their own network.
	d.topology = harness.Start(t, ui, []string{"topology"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/topology_image.tar"),
		ExposedPorts: []string{"9501/tcp", "9502/tcp"},
		Env: map[string]string{
			"HINDSIGHT_STALE_AFTER": staleAfter.String(),
			"HINDSIGHT_FADE_AFTER":  fadeAfter.String(),
			"HINDSIGHT_LOG_LEVEL":   "debug",
		},
		WaitingFor: wait.ForHTTP("/readyz").WithPort("9502/tcp").WithStartupTimeout(60 * time.Second),
	})
	topoAddr, err := d.topology.PortEndpoint(ctx, "9501/tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(topoAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), harness.GRPCCredentials(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d.graph = topologyv1.NewTopologyServiceClient(conn)

	// The agent: host network, capture on the demo network's bridge only.
	d.agent = harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image: harness.LoadImage(t, "images/agent_image.tar"),
		Env: map[string]string{
			"HINDSIGHT_CAPTURE":           "true",
			"HINDSIGHT_CAPTURE_NETWORKS":  d.nw.Name,
			"HINDSIGHT_TOPOLOGY_ENDPOINT": topoAddr,
			"HINDSIGHT_DOCKER_WATCH":      "false",
			"HINDSIGHT_GRPC_ADDR":         "127.0.0.1:0",
			"HINDSIGHT_ADMIN_ADDR":        "127.0.0.1:0",
		},
		ConfigModifier: func(c *container.Config) { c.User = "0" }, // packet sockets need the capabilities in effect
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.CapAdd = []string{"NET_RAW", "NET_ADMIN"}
			hc.Binds = []string{"/var/run/docker.sock:/var/run/docker.sock"}
		},
		WaitingFor: wait.ForLog(`"msg":"capturing"`).WithStartupTimeout(60 * time.Second),
	})
	d.containers["agent"] = d.agent

	// The demo. Redis and PostgreSQL are named by their images; ours by label.
	d.containers["redis"] = harness.Start(t, d.nw, []string{"redis"}, testcontainers.ContainerRequest{
		Image:      redisImage,
		WaitingFor: wait.ForLog("Ready to accept connections").WithStartupTimeout(60 * time.Second),
	})
	d.containers["postgres"] = harness.Start(t, d.nw, []string{"postgres"}, testcontainers.ContainerRequest{
		Image:      postgresImage,
		WaitingFor: wait.ForLog("database system is ready to accept connections").WithStartupTimeout(60 * time.Second),
	})
	d.api = harness.Start(t, d.nw, []string{"api"}, testcontainers.ContainerRequest{
		Image:      harness.LoadImage(t, "e2e/topology/demo/api/api_service_image.tar"),
		Labels:     map[string]string{"hindsight.service": "api"},
		WaitingFor: wait.ForLog("api listening").WithStartupTimeout(60 * time.Second),
	})
	d.containers["api"] = d.api
	d.frontend = harness.Start(t, d.nw, []string{"frontend"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "e2e/topology/demo/frontend/frontend_service_image.tar"),
		Labels:       map[string]string{"hindsight.service": "frontend"},
		ExposedPorts: []string{"8080/tcp"},
		// Not an HTTP wait: its request would be traffic of the graph.
		WaitingFor: wait.ForLog("frontend listening").WithStartupTimeout(60 * time.Second),
	})
	d.containers["frontend"] = d.frontend
	if d.frontendURL, err = d.frontend.PortEndpoint(ctx, "8080/tcp", "http"); err != nil {
		t.Fatal(err)
	}

	if withGateway {
		gw := harness.Start(t, ui, []string{"gateway"}, testcontainers.ContainerRequest{
			Image:        harness.LoadImage(t, "images/gateway_image.tar"),
			ExposedPorts: []string{"8080/tcp"},
			Env:          map[string]string{"HINDSIGHT_TOPOLOGY_ENDPOINT": "topology:9501"},
			WaitingFor:   wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(60 * time.Second),
		})
		if d.gatewayURL, err = gw.PortEndpoint(ctx, "8080/tcp", "http"); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// load is the load generator: requests at a fixed rate (or as fast as it
// can with rate 0), counting what it sent and what came back.
type load struct {
	sent, answered, fails, redisErrors, pgErrors, non2xx atomic.Int64
	start                                                time.Time
	stop                                                 chan struct{}
	done                                                 sync.WaitGroup

	mu      sync.Mutex
	samples []sample // answered so far, every 100 ms
}

type sample struct {
	at       time.Time
	answered int64
}

func startLoad(t *testing.T, base string, rate float64, workers int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{}), start: time.Now()}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	tickets := make(chan int64, workers)
	l.done.Add(1)
	go func() { // the pacer
		defer l.done.Done()
		defer close(tickets)
		var i int64
		for {
			if rate > 0 {
				next := l.start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				time.Sleep(time.Until(next))
			}
			select {
			case <-l.stop:
				return
			case tickets <- i:
				i++
			}
		}
	}()
	l.done.Add(1)
	go func() { // the counter's history, to compare rates over a window
		defer l.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case now := <-tick.C:
				l.mu.Lock()
				l.samples = append(l.samples, sample{now, l.answered.Load()})
				l.mu.Unlock()
			}
		}
	}()
	for w := 0; w < workers; w++ {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := range tickets {
				l.request(client, base, i)
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) request(client *http.Client, base string, i int64) {
	q := []string{}
	fail := i%failEvery == 0
	if fail {
		q = append(q, "fail=1")
	}
	redisErr := i%redisErrorEvery == 3
	if redisErr {
		q = append(q, "redis_error=1")
	}
	pgErr := i%pgErrorEvery == 7
	if pgErr {
		q = append(q, "pg_error=1")
	}
	l.sent.Add(1)
	resp, err := client.Get(fmt.Sprintf("%s/items/%d?%s", base, i%1000, strings.Join(q, "&")))
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.answered.Add(1)
	if fail {
		l.fails.Add(1)
	}
	if redisErr {
		l.redisErrors.Add(1)
	}
	if pgErr {
		l.pgErrors.Add(1)
	}
	if resp.StatusCode/100 != 2 {
		l.non2xx.Add(1)
	}
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}

// rate is the generator's own rate of answered requests so far.
func (l *load) rate() float64 { return float64(l.answered.Load()) / time.Since(l.start).Seconds() }

// rateOver is the generator's rate in [from, to), from its samples (100 ms apart).
func (l *load) rateOver(from, to time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := func(t time.Time) (time.Time, int64) {
		i := sort.Search(len(l.samples), func(i int) bool { return !l.samples[i].at.Before(t) })
		if i == len(l.samples) {
			i--
		}
		return l.samples[i].at, l.samples[i].answered
	}
	t0, n0 := at(from)
	t1, n1 := at(to)
	return float64(n1-n0) / t1.Sub(t0).Seconds()
}

type edgeKey struct{ src, dst string }

// wantEdges are the edges of the demo: exactly these.
var wantEdges = map[edgeKey]topologyv1.Protocol{
	{"INTERNET", "frontend"}: topologyv1.Protocol_PROTOCOL_HTTP,
	{"frontend", "api"}:      topologyv1.Protocol_PROTOCOL_HTTP,
	{"api", "redis"}:         topologyv1.Protocol_PROTOCOL_REDIS,
	{"api", "postgres"}:      topologyv1.Protocol_PROTOCOL_POSTGRES,
}

func edgesOf(g *topologyv1.Graph) map[edgeKey]*topologyv1.Edge {
	out := map[edgeKey]*topologyv1.Edge{}
	for _, e := range g.GetEdges() {
		out[edgeKey{e.Source, e.Destination}] = e
	}
	return out
}

func describe(g *topologyv1.Graph) string {
	var lines []string
	for _, e := range g.GetEdges() {
		lines = append(lines, fmt.Sprintf("%s→%s %s %.1f req/s errors %.2f%% p50 %v p99 %v stale=%v",
			e.Source, e.Destination, strings.TrimPrefix(e.Protocol.String(), "PROTOCOL_"), e.RequestRate, 100*e.ErrorRatio,
			e.LatencyP50.AsDuration(), e.LatencyP99.AsDuration(), e.Stale))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// check compares the graph with what the generator did: exactly the demo's
// edges, rates within 10% of the generator's, error ratios within 2 points
// of the injected ones.
func check(g *topologyv1.Graph, genRate float64) error {
	edges := edgesOf(g)
	if len(edges) != len(wantEdges) {
		return fmt.Errorf("%d edges, want %d", len(edges), len(wantEdges))
	}
	wantRatio := map[edgeKey]float64{
		{"INTERNET", "frontend"}: 1.0 / failEvery,
		{"frontend", "api"}:      1.0 / failEvery,
		{"api", "redis"}:         1.0 / redisErrorEvery,
		{"api", "postgres"}:      1.0 / pgErrorEvery,
	}
	for k, proto := range wantEdges {
		e := edges[k]
		if e == nil {
			return fmt.Errorf("no edge %s→%s", k.src, k.dst)
		}
		if e.Protocol != proto {
			return fmt.Errorf("%s→%s is %v, want %v", k.src, k.dst, e.Protocol, proto)
		}
		if math.Abs(e.RequestRate-genRate)/genRate > 0.10 {
			return fmt.Errorf("%s→%s at %.1f req/s, generator %.1f", k.src, k.dst, e.RequestRate, genRate)
		}
		if math.Abs(e.ErrorRatio-wantRatio[k]) > 0.02 {
			return fmt.Errorf("%s→%s error ratio %.3f, want %.3f", k.src, k.dst, e.ErrorRatio, wantRatio[k])
		}
	}
	return nil
}

func getGraph(t *testing.T, cli topologyv1.TopologyServiceClient, window time.Duration) *topologyv1.Graph {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := cli.GetGraph(ctx, &topologyv1.GetGraphRequest{Window: durationpb.New(window)})
	if err != nil {
		t.Fatalf("GetGraph: %v", err)
	}
	return g
}

func TestLiveGraphFromCapturedTraffic(t *testing.T) {
	d := startDemo(t, true)
	const rate = 100.0
	gen := startLoad(t, d.frontendURL, rate, 8)

	// The graph is right within 5 s of the traffic starting.
	var g *topologyv1.Graph
	var lastErr error
	var timeToGraph time.Duration
	for {
		g = getGraph(t, d.graph, 10*time.Second)
		if lastErr = check(g, gen.rate()); lastErr == nil {
			timeToGraph = time.Since(gen.start)
			break
		}
		if time.Since(gen.start) > 15*time.Second {
			t.Fatalf("graph not right 15 s after traffic started: %v\n%s", lastErr, describe(g))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("graph right %.2f s after traffic started (generator at %.1f req/s):\n%s", timeToGraph.Seconds(), gen.rate(), describe(g))
	if timeToGraph > 5*time.Second {
		t.Errorf("time to graph %v > 5s", timeToGraph)
	}

	// And it stays right over a full window.
	time.Sleep(12*time.Second - time.Since(gen.start))
	g = getGraph(t, d.graph, 10*time.Second)
	genRate := gen.rate()
	if err := check(g, genRate); err != nil {
		t.Errorf("after a full window: %v\n%s", err, describe(g))
	}
	t.Logf("after %.0f s: generator %.1f req/s (%d answered, %d failures injected, %d Redis errors, %d PostgreSQL errors); graph:\n%s",
		time.Since(gen.start).Seconds(), genRate, gen.answered.Load(), gen.fails.Load(), gen.redisErrors.Load(), gen.pgErrors.Load(), describe(g))
	for k, e := range edgesOf(g) {
		if e.LatencyP50.AsDuration() <= 0 || e.LatencyP99.AsDuration() < e.LatencyP50.AsDuration() {
			t.Errorf("%s→%s latencies p50 %v p99 %v", k.src, k.dst, e.LatencyP50.AsDuration(), e.LatencyP99.AsDuration())
		}
	}
	for _, n := range g.GetNodes() {
		if n.Service == "api" && (len(n.Containers) != 1 || len(n.Addresses) != 1) {
			t.Errorf("api node: %v", n)
		}
	}

	// The page draws it.
	browser := headless.Browser(t)
	if err := chromedp.Do(browser, chromedp.Navigate(d.gatewayURL+"/topology/#token="+harness.Token(t, harness.Reader))); err != nil {
		t.Fatal(err)
	}
	page, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(page, chromedp.Poll[bool](`window.hindsightTopology && window.hindsightTopology.state.connections === 4`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("page: %v", err)
	}
	if _, err := chromedp.Run(page, chromedp.Evaluate[any](`window.hindsightTopology.selectConnection("api", "redis")`)); err != nil {
		t.Fatal(err)
	}
	headless.Screenshot(t, page, "topology-live.png")

	// Killing api: its edges turn to danger (no traffic: stale), then fade.
	docker, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if _, err := docker.ContainerKill(context.Background(), d.api.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	apiEdges := []edgeKey{{"frontend", "api"}, {"api", "redis"}, {"api", "postgres"}}
	var toDanger, toFade time.Duration
	for toDanger == 0 || toFade == 0 {
		if time.Since(killed) > staleAfter+fadeAfter+10*time.Second {
			t.Fatalf("after killing api: danger after %v, faded after %v\n%s", toDanger, toFade, describe(getGraph(t, d.graph, 10*time.Second)))
		}
		g := getGraph(t, d.graph, 10*time.Second)
		v, err := d.graph.GetVizceral(context.Background(), &topologyv1.GetGraphRequest{})
		if err != nil {
			t.Fatal(err)
		}
		edges := edgesOf(g)
		classes := vizceralClasses(v)
		danger, gone := true, true
		for _, k := range apiEdges {
			if edges[k] != nil {
				gone = false
			}
			if edges[k] == nil || !edges[k].Stale || classes[k] != "danger" {
				danger = false
			}
		}
		if danger && toDanger == 0 {
			toDanger = time.Since(killed)
			t.Logf("%.1f s after the kill, api's edges are danger:\n%s", toDanger.Seconds(), describe(g))
			if _, err := chromedp.Run(page, chromedp.Evaluate[any](`window.hindsightTopology.selectConnection("frontend", "api")`)); err == nil {
				headless.Screenshot(t, page, "topology-api-killed.png")
			}
		}
		if gone {
			if toDanger == 0 {
				t.Fatalf("api's edges faded without being marked danger first")
			}
			toFade = time.Since(killed)
			t.Logf("%.1f s after the kill, api's edges have faded:\n%s", toFade.Seconds(), describe(g))
			if e := edges[edgeKey{"INTERNET", "frontend"}]; e == nil || e.ErrorRatio < 0.5 {
				t.Errorf("frontend answers 502 without its api, its edge should be mostly errors: %v", e)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func vizceralClasses(v *topologyv1.VizceralNode) map[edgeKey]string {
	out := map[edgeKey]string{}
	for _, r := range v.GetNodes() {
		for _, c := range r.GetConnections() {
			out[edgeKey{c.Source, c.Target}] = c.Class
		}
	}
	return out
}

// TestCaptureOverhead measures the agent's CPU against the demo's own while
// the generator drives the demo as fast as it goes (e2e/bench/topology.sh
// runs it; skipped otherwise).
func TestCaptureOverhead(t *testing.T) {
	if os.Getenv("HINDSIGHT_BENCH") == "" {
		t.Skip("a benchmark: run e2e/bench/topology.sh (HINDSIGHT_BENCH=1)")
	}
	d := startDemo(t, false)
	gen := startLoad(t, d.frontendURL, 0, 32)
	time.Sleep(5 * time.Second) // warm up: connections, caches
	before, t0 := cpu(t, d.containers)
	time.Sleep(30 * time.Second)
	after, t1 := cpu(t, d.containers)
	rate := gen.rateOver(t0, t1)
	g := getGraph(t, d.graph, 10*time.Second)
	gen.halt()

	elapsed := t1.Sub(t0)
	used := map[string]float64{} // cores
	var demoCores float64
	for name := range d.containers {
		used[name] = float64(after[name]-before[name]) / float64(elapsed)
		if name != "agent" {
			demoCores += used[name]
		}
	}
	t.Logf("generator: %.0f req/s for %.0f s (each one: frontend → api → Redis + PostgreSQL)", rate, elapsed.Seconds())
	t.Logf("CPU (cores): agent %.3f; demo %.3f (frontend %.3f, api %.3f, redis %.3f, postgres %.3f)",
		used["agent"], demoCores, used["frontend"], used["api"], used["redis"], used["postgres"])
	t.Logf("agent overhead: %.1f%% of the demo's CPU", 100*used["agent"]/demoCores)
	t.Logf("graph:\n%s", describe(g))
	// The graph's window ends a second (the service's lag) before it was made.
	end := g.Time.AsTime().Add(-time.Second).Truncate(time.Second)
	want := gen.rateOver(end.Add(-10*time.Second), end)
	if e := edgesOf(g)[edgeKey{"frontend", "api"}]; e == nil || math.Abs(e.RequestRate-want)/want > 0.10 {
		t.Errorf("at the highest rate the capture saw frontend→api at %v, generator %.0f req/s", e, want)
	}
}

// cpu reads each container's total CPU time (ns) from the engine, all at
// once, and returns when it read them.
func cpu(t *testing.T, containers map[string]testcontainers.Container) (map[string]uint64, time.Time) {
	t.Helper()
	docker, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]uint64{}
	start := time.Now()
	for name, c := range containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := docker.ContainerStats(context.Background(), c.GetContainerID(), client.ContainerStatsOptions{})
			if err != nil {
				t.Errorf("stats of %s: %v", name, err)
				return
			}
			defer res.Body.Close()
			var s container.StatsResponse
			if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
				t.Errorf("stats of %s: %v", name, err)
				return
			}
			mu.Lock()
			out[name] = s.CPUStats.CPUUsage.TotalUsage
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out, start.Add(time.Since(start) / 2)
}
