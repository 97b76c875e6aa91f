// The all-in-one image as a newcomer runs it: one container, a data directory
// bind-mounted from the host, log files dropped into its inbox. Through the
// REST API they become searchable, a past day replays from the archive, the
// demo's traffic draws a topology graph, the pages load in Chromium; and a
// restart on the same directory keeps the archive and the replays.
package allinone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/headless"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

func TestMain(m *testing.M) { harness.Main(m) }

const (
	pastEvents = 120 // e2e lines on yesterday
	nowEvents  = 30  // e2e lines of the last minutes
	query      = "message:e2eorder"
)

// bearer is the admin token the all-in-one created in its data directory at
// its first start; call sends it.
var bearer string

func start(t *testing.T, image, dataDir string, args ...string) (testcontainers.Container, string) {
	t.Helper()
	c := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image: image,
		// No tokens file: listening beyond loopback in its container, the
		// all-in-one creates one (and an admin token) in its data directory.
		Env:          map[string]string{"HINDSIGHT_AUTH_TOKENS_FILE": "", "HINDSIGHT_AUTH_TOKEN_FILE": ""},
		Cmd:          append([]string{"--data-dir=/data", "--log-format=text"}, args...),
		ExposedPorts: []string{"8080/tcp", "9091/tcp"},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Binds = []string{dataDir + ":/data"}
		},
		WaitingFor: wait.ForHTTP("/readyz").WithPort("9091/tcp").WithStartupTimeout(90 * time.Second),
	})
	url, err := c.PortEndpoint(context.Background(), "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return c, url
}

func call(t *testing.T, method, url string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

type searchResp struct {
	Total  string `json:"total"`
	Events []struct {
		Message string `json:"message"`
		Dataset string `json:"dataset"`
	} `json:"events"`
}

func search(t *testing.T, base string, body map[string]any) (string, string) {
	var r searchResp
	code, raw := call(t, http.MethodPost, base+"/v1/search", body, &r)
	if code != http.StatusOK {
		return "", raw
	}
	return r.Total, raw
}

func countFiles(dir, suffix string) int {
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, suffix) {
			n++
		}
		return nil
	})
	return n
}

func TestAllInOne(t *testing.T) {
	image := harness.LoadImage(t, "images/allinone_image.tar")
	// The image runs as uid 65532: the directory must be writable by it. What
	// it creates is removed at the end by a root container (see cleanup).
	// Under Bazel in TEST_TMPDIR: the output base is at the same path for the
	// Docker engine as for the test (tools/bazel runs in a mount namespace).
	dataDir, err := os.MkdirTemp(os.Getenv("TEST_TMPDIR"), "allinone-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanup(t, dataDir) })
	inbox := filepath.Join(dataDir, "inbox", "app")
	for _, d := range []string{dataDir, filepath.Join(dataDir, "inbox"), inbox} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	yesterday := now.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	var lines bytes.Buffer
	for i := range pastEvents {
		fmt.Fprintf(&lines, `{"@timestamp":%q,"level":"info","message":"e2eorder %d created","service":"shop"}`+"\n",
			yesterday.Add(time.Duration(i)*11*time.Minute).Format(time.RFC3339), i)
	}
	for i := range nowEvents {
		fmt.Fprintf(&lines, `{"@timestamp":%q,"level":"warn","message":"e2eorder %d delayed","service":"shop"}`+"\n",
			now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339), pastEvents+i)
	}
	if err := os.WriteFile(filepath.Join(inbox, "shop.log"), lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	c, base := start(t, image, dataDir, "--demo")
	t.Logf("container ready in %v", time.Since(began).Round(time.Millisecond))

	// Authentication is on: the token it created and printed, and nothing
	// works without it.
	tok, err := auth.ReadToken(filepath.Join(dataDir, "auth", "admin.token"))
	if err != nil {
		t.Fatalf("no admin token created in the data directory: %v", err)
	}
	if out := harness.Logs(t, c); !strings.Contains(out, "created admin token "+tok) {
		t.Fatalf("the created admin token is not printed:\n%s", out)
	}
	if code, raw := call(t, http.MethodGet, base+"/v1/replays", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a call without a token: %d %s, want 401", code, raw)
	}
	bearer = tok
	all := map[string]any{"query": query, "datasets": []string{"app"},
		"from": yesterday.Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339), "pageSize": 5}
	want := fmt.Sprint(pastEvents + nowEvents)
	polltest.Until(t, "the inbox's events searchable live", 90*time.Second, func() (bool, string) {
		n, raw := search(t, base, all)
		return n == want, raw
	})
	t.Logf("inbox file searchable live %v after the container started", time.Since(began).Round(time.Millisecond))
	d := polltest.Until(t, "demo events searchable live", 60*time.Second, func() (bool, string) {
		n, raw := search(t, base, map[string]any{"datasets": []string{"nginx.access"}, "pageSize": 1})
		return n != "" && n != "0", raw
	})
	_ = d
	t.Logf("demo events (nginx.access) searchable %v after the container started", time.Since(began).Round(time.Millisecond))

	// A past day from the archive.
	replay := map[string]any{"name": "e2e-yesterday", "datasets": []string{"app"}, "query": query,
		"from": yesterday.Format(time.RFC3339), "to": yesterday.Add(24 * time.Hour).Format(time.RFC3339)}
	polltest.Until(t, "the past day archived", 60*time.Second, func() (bool, string) {
		var est struct {
			Files string `json:"files"`
		}
		code, raw := call(t, http.MethodPost, base+"/v1/replays:estimate", replay, &est)
		return code == http.StatusOK && est.Files != "" && est.Files != "0" && countFiles(filepath.Join(dataDir, "archive", "app"), ".gz") > 0, raw
	})
	// The archiver flushes every 10 s: wait until every line of the day is in.
	replayed := func(base, name string) func() (bool, string) {
		return func() (bool, string) {
			var r struct {
				State string `json:"state"`
			}
			code, raw := call(t, http.MethodGet, base+"/v1/replays/"+name, nil, &r)
			if code != http.StatusOK || r.State != "STATE_READY" {
				return false, raw
			}
			n, raw := search(t, base, map[string]any{"replay": name, "query": query, "pageSize": 3})
			return n == fmt.Sprint(pastEvents), raw
		}
	}
	time.Sleep(11 * time.Second)
	if code, raw := call(t, http.MethodPost, base+"/v1/replays", replay, nil); code != http.StatusOK {
		t.Fatalf("create replay: %d %s", code, raw)
	}
	polltest.Until(t, "the replay of yesterday loaded with its events", 60*time.Second, replayed(base, "e2e-yesterday"))
	t.Logf("replay of %s ready with %d events", yesterday.Format("2006-01-02"), pastEvents)

	// The demo's flows make a graph.
	polltest.Until(t, "a topology graph", 30*time.Second, func() (bool, string) {
		var g struct {
			Nodes []struct {
				Service string `json:"service"`
			} `json:"nodes"`
			Edges []json.RawMessage `json:"edges"`
		}
		_, raw := call(t, http.MethodGet, base+"/v1/graph", nil, &g)
		names := map[string]bool{}
		for _, n := range g.Nodes {
			names[n.Service] = true
		}
		return names["frontend"] && names["api"] && names["redis"] && names["postgres"], raw
	})

	// The pages, in Chromium.
	browser := headless.Browser(t)
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/replays/#token="+bearer)); err != nil {
		t.Fatal(err)
	}
	page, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(page, chromedp.Poll[bool](`document.body.innerText.includes("e2e-yesterday")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("replays page: %v", err)
	}
	headless.Screenshot(t, page, "allinone-replays.png")
	if err := chromedp.Do(page, chromedp.Navigate(base+"/topology/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(page, chromedp.Poll[bool](`!!(window.hindsightTopology && window.hindsightTopology.state.connections >= 4)`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("topology page: %v", err)
	}
	headless.Screenshot(t, page, "allinone-topology.png")

	// Restart on the same data directory.
	archived := countFiles(filepath.Join(dataDir, "archive"), ".gz")
	stop := 30 * time.Second
	if err := c.Stop(context.Background(), &stop); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	c, base = start(t, image, dataDir)
	t.Logf("restarted container ready in %v", time.Since(began).Round(time.Millisecond))
	if again, err := auth.ReadToken(filepath.Join(dataDir, "auth", "admin.token")); err != nil || again != bearer {
		t.Fatalf("the restart replaced the admin token (%v)", err)
	}
	if strings.Contains(harness.Logs(t, c), "created admin token") {
		t.Fatal("the restart created another admin token")
	}
	polltest.Until(t, "the replay after a restart", 30*time.Second, replayed(base, "e2e-yesterday"))
	polltest.Until(t, "live search after a restart", 30*time.Second, func() (bool, string) {
		n, raw := search(t, base, all)
		return n == want, raw
	})
	if after := countFiles(filepath.Join(dataDir, "archive"), ".gz"); after < archived {
		t.Errorf("archive objects: %d before the restart, %d after", archived, after)
	}
	// And the archive still replays: a second replay of the same day.
	replay["name"] = "e2e-again"
	if code, raw := call(t, http.MethodPost, base+"/v1/replays", replay, nil); code != http.StatusOK {
		t.Fatalf("create replay after restart: %d %s", code, raw)
	}
	polltest.Until(t, "a replay of the archive after a restart", 60*time.Second, replayed(base, "e2e-again"))
	t.Logf("after the restart: %d archive objects kept, replays e2e-yesterday and e2e-again ready with %d events", archived, pastEvents)
}

// cleanup removes the data directory, whose files belong to the image's
// user, with a root container of the e2e base image.
func cleanup(t *testing.T, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      "hindsight-e2e/debian-base:bookworm",
			Entrypoint: []string{"sh", "-c", "rm -rf /d/* /d/.[!.]*"},
			User:       "0",
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.Binds = []string{dir + ":/d"}
			},
			WaitingFor: wait.ForExit().WithExitTimeout(time.Minute),
		},
		Started: true,
	})
	if c != nil {
		defer c.Terminate(context.Background())
	}
	if err != nil {
		t.Logf("cleanup of %s: %v", dir, err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("cleanup of %s: %v", dir, err)
	}
}
