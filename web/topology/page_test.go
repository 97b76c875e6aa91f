package topology_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/headless"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	gatewayapi "github.com/hindsight-dev/hindsight/services/gateway/api"
	"github.com/hindsight-dev/hindsight/services/gateway/middleware"
	topologyapi "github.com/hindsight-dev/hindsight/services/topology/api"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	"github.com/hindsight-dev/hindsight/web/topology"
)

// Tokens of the page tests: authentication is on, as it is by default.
var (
	viewerToken = auth.NewToken() // a reader: the page
	agentToken  = auth.NewToken() // an operator: reports flows
)

// serve runs the topology service and a gateway serving the page, as the
// all-in-one does (authentication on), and returns the page's base URL.
func serve(t *testing.T) string {
	t.Helper()
	svc, err := topologyapi.New(topologyapi.Options{Aggregator: graph.New(graph.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(auth.Tokens{
		auth.Digest(viewerToken): {Name: "viewer", Role: auth.Reader},
		auth.Digest(agentToken):  {Name: "agent", Role: auth.Operator},
	})
	srv := grpc.NewServer(grpc.UnaryInterceptor(authn.UnaryInterceptor()), grpc.StreamInterceptor(authn.StreamInterceptor()))
	topologyv1.RegisterTopologyServiceServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := gatewayapi.New(ctx, gatewayapi.Config{TopologyEndpoint: lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	if err := topology.Mount(gw, "/topology/"); err != nil {
		t.Fatal(err)
	}
	h, err := middleware.Wrap(gw, middleware.Config{
		Auth:       middleware.AuthConfig{Authenticator: authn},
		PublicFunc: func(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, "/v1/") },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// report posts the demo's traffic of the last 8 seconds through the REST
// mapping of ReportFlows, then goes on as a live agent would, every 200 ms,
// until the test ends.
func report(t *testing.T, base string) {
	t.Helper()
	// next is the time of the next record: records lie on a 200 ms grid.
	next := time.Now().Add(-8 * time.Second)
	post := func(to time.Time) error {
		body, after := flowsJSON(next, to)
		next = after
		req, _ := http.NewRequest("POST", base+"/v1/flows", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+agentToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /v1/flows: %s", resp.Status)
		}
		return nil
	}
	if err := post(time.Now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				if err := post(now); err != nil {
					t.Errorf("report: %v", err)
					return
				}
			}
		}
	}()
}

// flowsJSON is the traffic of [from, to): 100 requests a second in records
// of a fifth of a second (as the agent sends them), 5% failing. It returns
// the time of the record after the last.
func flowsJSON(from, to time.Time) (string, time.Time) {
	type ep struct{ svc, container, addr string }
	internet := ep{}
	fe := ep{"frontend", "demo-frontend-1", "172.18.0.3"}
	api := ep{"api", "demo-api-1", "172.18.0.4"}
	redis := ep{"redis", "demo-redis-1", "172.18.0.5"}
	pg := ep{"postgres", "demo-postgres-1", "172.18.0.6"}
	var flows []string
	add := func(src, dst ep, proto, status string, n int, at time.Time) {
		flows = append(flows, `{"source":{"service":"`+src.svc+`","container":"`+src.container+`","address":"`+src.addr+`"},`+
			`"destination":{"service":"`+dst.svc+`","container":"`+dst.container+`","address":"`+dst.addr+`"},`+
			`"protocol":"`+proto+`","status":"`+status+`","count":"`+strconv.Itoa(n)+`","latency":"`+strconv.FormatFloat(float64(n)*0.002, 'f', 3, 64)+`s",`+
			`"time":"`+at.UTC().Format(time.RFC3339Nano)+`"}`)
	}
	at := from
	for ; at.Before(to); at = at.Add(200 * time.Millisecond) {
		add(internet, fe, "PROTOCOL_HTTP", "STATUS_CLASS_OK", 19, at)
		add(internet, fe, "PROTOCOL_HTTP", "STATUS_CLASS_SERVER_ERROR", 1, at)
		add(fe, api, "PROTOCOL_HTTP", "STATUS_CLASS_OK", 19, at)
		add(fe, api, "PROTOCOL_HTTP", "STATUS_CLASS_SERVER_ERROR", 1, at)
		add(api, redis, "PROTOCOL_REDIS", "STATUS_CLASS_OK", 20, at)
		add(api, pg, "PROTOCOL_POSTGRES", "STATUS_CLASS_OK", 20, at)
	}
	return `{"flows":[` + strings.Join(flows, ",") + `]}`, at
}

func TestPageServed(t *testing.T) {
	base := serve(t)
	for _, c := range []struct{ path, want string }{
		{"/topology/", "<canvas id=\"graph\">"},
		{"/topology/", `<a href="/search">Search</a>`}, // the other pages are linked
		{"/topology/", `<a href="/volume">Volume</a>`},
		{"/topology/app.js", "hindsightTopology"},
		{"/topology/app.css", "#panel"},
	} {
		path, want := c.path, c.want
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %s, %d bytes, want %q", path, resp.Status, len(b), want)
		}
	}
	resp, err := http.Get(base + "/topology")
	if err != nil || resp.Request.URL.Path != "/topology/" {
		t.Fatalf("/topology did not redirect: %v %v", resp, err)
	}
}

// pageState is window.hindsightTopology.state.
type pageState struct {
	Updates, Nodes, Connections int
	Error                       string
}

func TestPageInChromium(t *testing.T) {
	base := serve(t)
	report(t, base)
	browser := headless.Browser(t)
	// The first Run starts the browser, which lives as long as its context:
	// no timeout on it; the later steps get theirs.
	// Without a token the page says so and draws nothing.
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/topology/")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.hindsightTopology && /authentication is on/.test(window.hindsightTopology.state.error)`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("page without a token: no authentication error shown: %v (page %q)", err, text)
	}
	// A link handing over the token (in the fragment, which no server
	// sees) logs the tab in; the token leaves the address bar.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/topology/#token="+viewerToken)); err != nil {
		t.Fatal(err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err != nil || strings.Contains(loc, viewerToken) {
		t.Fatalf("token still in the address bar: %q %v", loc, err)
	}

	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.hindsightTopology && window.hindsightTopology.state.connections >= 4 && window.hindsightTopology.state.updates >= 2`,
		chromedp.WithPollingTimeout(60*time.Second)))
	state, serr := chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.hindsightTopology.state`))
	if err != nil || serr != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("page did not draw the graph: %v %v (state %+v, page %q)", err, serr, state, text)
	}
	if state.Nodes != 5 || state.Connections != 4 || state.Error != "" {
		t.Fatalf("state = %+v", state)
	}

	// Clicking a connection shows its rates and links to its access logs.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.hindsightTopology.selectConnection("frontend", "api")`)); err != nil {
		t.Fatal(err)
	}
	panel, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.hindsightTopology.panelText()`))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`requests\s+(9[5-9]|10[0-5])\.\d req/s`).MatchString(panel) {
		t.Errorf("edge panel: no request rate near 100 req/s:\n%s", panel)
	}
	for _, want := range []string{"frontend → api", "5.0 %", "HTTP", "latency p99"} {
		if !strings.Contains(panel, want) {
			t.Errorf("edge panel misses %q:\n%s", want, panel)
		}
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#access-logs"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(href.Value, "/search?q=") || !strings.Contains(href.Value, "service.name%3A%22api%22") || !strings.Contains(href.Value, "172.18.0.3") {
		t.Errorf("access-log link = %q", href.Value)
	}
	headless.Screenshot(t, ctx, "topology-edge.png")

	// Clicking a service lists its containers.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.hindsightTopology.selectNode("api")`)); err != nil {
		t.Fatal(err)
	}
	// Polled, not read once: every poll of the graph redraws the panel, and
	// a node read while it is replaced is gone.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector("#containers") || {innerText: ""}).innerText.includes("demo-api-1")`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		panel, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.hindsightTopology.panelText()`))
		t.Errorf("containers of api not listed: %v\n%s", err, panel)
	}
	headless.Screenshot(t, ctx, "topology-node.png")
}
