// deploy/compose.yaml run for real, as a user runs it: `docker compose up` of
// etcd, Kafka, OpenSearch and every Hindsight service, log lines written into
// the agent's watched volume, then searched through the gateway, found in the
// archive and replayed; `docker compose down` and `up` again keep all of it
// (named volumes), and lines written after the restart are shipped once.
package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

func TestMain(m *testing.M) { harness.Main(m) }

var (
	composeFile  = flag.String("compose", "../../deploy/compose.yaml", "the compose file under test")
	overrideFile = flag.String("override", "testdata/compose.e2e.yaml", "the suite's changes to it")
)

// Hindsight's images the compose file runs (the engines' come from e2e/images/build.sh).
var images = []string{"router", "archiver", "indexer", "replay", "topology", "membership", "gateway", "agent"}

const (
	lines      = 200 // before the restart
	linesAfter = 20  // after it
	query      = "composee2e"
)

// stack is one compose project of deploy/compose.yaml.
type stack struct {
	t       *testing.T
	cmd     []string // "docker compose" or "docker-compose", with -p and -f
	env     []string
	project string
	gateway string // http://127.0.0.1:port
}

// composeCommand is the compose plugin when the Docker CLI has it, else
// Debian's docker-compose (tools/setup/compose.sh installs one of them).
func composeCommand(t *testing.T) []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	t.Fatal("neither docker compose nor docker-compose: run tools/setup/compose.sh")
	return nil
}

func newStack(t *testing.T) *stack {
	project := fmt.Sprintf("hse2e%d", time.Now().UnixNano()%1e9)
	// Our images under a tag of this test alone (HINDSIGHT_IMAGE_TAG), by id:
	// another suite loading hindsight/<svc>:latest meanwhile changes nothing here.
	for _, svc := range images {
		tar := "images/" + svc + "_image.tar"
		harness.LoadImage(t, tar)
		tag := "hindsight/" + svc + ":" + project
		if out, err := exec.Command("docker", "tag", harness.ImageID(t, tar), tag).CombinedOutput(); err != nil {
			t.Fatalf("docker tag %s: %v\n%s", tag, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("docker", "rmi", tag).Run() })
	}
	for _, img := range []string{"hindsight-e2e/etcd:3", "hindsight-e2e/kafka:4", "hindsight-e2e/opensearch:2", "hindsight-e2e/debian-base:bookworm"} {
		harness.RequireImage(t, img)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, f := range []string{*composeFile, *overrideFile} {
		if _, err := os.Stat(runfile(f)); err != nil {
			t.Fatal(err)
		}
	}
	s := &stack{t: t, project: project, gateway: "http://" + addr}
	s.cmd = append(composeCommand(t), "-p", s.project, "-f", runfile(*composeFile), "-f", runfile(*overrideFile))
	// The tokens of every suite (e2e/harness): the file deploy/compose.yaml
	// mounts as its secrets.
	s.env = append(os.Environ(), "HINDSIGHT_HTTP_PUBLISH="+addr, "HINDSIGHT_IMAGE_TAG="+project, "HINDSIGHT_AUTH_DIR="+harness.AuthHostDir(t))
	if os.Getenv("HOME") == "" {
		s.env = append(s.env, "HOME="+os.TempDir())
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.compose(context.Background(), "logs", "--no-color", "--tail=40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := s.compose(context.Background(), "down", "-v", "--remove-orphans"); err != nil {
			t.Logf("compose down -v: %v\n%s", err, out)
		}
	})
	return s
}

// runfile is a path Bazel gave ($(rootpath), from the runfiles root), or one
// relative to this directory under go test.
func runfile(p string) string {
	if d := os.Getenv("TEST_SRCDIR"); d != "" && !filepath.IsAbs(p) {
		return filepath.Join(d, os.Getenv("TEST_WORKSPACE"), p)
	}
	return p
}

func (s *stack) compose(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.cmd[0], append(s.cmd[1:], args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// up runs `compose up -d`: it returns once every service is started in the
// order the health checks allow (depends_on: service_healthy), no sleeps.
func (s *stack) up() time.Duration {
	s.t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if out, err := s.compose(ctx, "up", "-d"); err != nil {
		s.t.Fatalf("compose up: %v\n%s", err, out)
	}
	return time.Since(began)
}

// writeLines appends lines to app.log in the agent's watched volume, from a
// container that mounts it (as a user's application container would).
func (s *stack) writeLines(from, n int) {
	s.t.Helper()
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"@timestamp":%q,"level":"info","message":"%s order %d shipped"}`+"\n", time.Now().UTC().Format(time.RFC3339Nano), query, i)
	}
	cmd := exec.Command("docker", "run", "--rm", "-i", "--network=none", "-v", s.project+"_logs:/logs",
		"hindsight-e2e/debian-base:bookworm", "sh", "-c", "cat >> /logs/app.log")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("write into the logs volume: %v\n%s", err, out)
	}
}

func (s *stack) call(method, path string, body any, out any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.gateway+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", harness.Bearer(s.t, harness.Admin))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

// total is how many events a search through the gateway finds (-1: an error).
func (s *stack) total(body map[string]any) (int, string) {
	var r struct {
		Total string `json:"total"`
	}
	body["query"], body["pageSize"] = query, 1
	code, raw := s.call(http.MethodPost, "/v1/search", body, &r)
	if code != http.StatusOK {
		return -1, raw
	}
	n, _ := strconv.Atoi(r.Total)
	return n, raw
}

// archived is how many events the archive holds in the range (the replay
// service's estimate, read from the archive's manifests).
func (s *stack) archived(rng map[string]any) (int, string) {
	var e struct {
		Events string `json:"events"`
	}
	code, raw := s.call(http.MethodPost, "/v1/replays:estimate", map[string]any{"name": "estimate", "datasets": []string{"app"},
		"from": rng["from"], "to": rng["to"]}, &e)
	if code != http.StatusOK {
		return -1, raw
	}
	n, _ := strconv.Atoi(e.Events)
	return n, raw
}

func TestComposeStack(t *testing.T) {
	s := newStack(t)
	t.Logf("compose: %s", strings.Join(s.cmd, " "))

	began := time.Now()
	upTook := s.up()
	t.Logf("compose up -d returned in %v (every service started after its dependencies were healthy)", upTook.Round(time.Millisecond))
	s.writeLines(0, lines)
	rng := map[string]any{"datasets": []string{"app"}, "from": began.Add(-time.Hour).UTC().Format(time.RFC3339),
		"to": began.Add(time.Hour).UTC().Format(time.RFC3339)}
	search := func() map[string]any {
		return map[string]any{"datasets": rng["datasets"], "from": rng["from"], "to": rng["to"]}
	}
	polltest.Until(t, "a first line searchable through the gateway", 3*time.Minute, func() (bool, string) {
		n, raw := s.total(search())
		return n > 0, raw
	})
	t.Logf("TIME compose up -> first searchable line: %v", time.Since(began).Round(time.Millisecond))
	polltest.Until(t, "every line searchable", 2*time.Minute, func() (bool, string) {
		n, raw := s.total(search())
		return n == lines, raw
	})
	t.Logf("compose up -> all %d lines searchable: %v", lines, time.Since(began).Round(time.Millisecond))
	polltest.Until(t, "every line archived", 2*time.Minute, func() (bool, string) {
		n, raw := s.archived(rng)
		return n == lines, raw
	})

	replay := map[string]any{"name": "compose-e2e", "datasets": []string{"app"}, "query": query, "from": rng["from"], "to": rng["to"]}
	if code, raw := s.call(http.MethodPost, "/v1/replays", replay, nil); code != http.StatusOK {
		t.Fatalf("create the replay: %d %s", code, raw)
	}
	replayed := func() (bool, string) {
		var r struct {
			State string `json:"state"`
		}
		if code, raw := s.call(http.MethodGet, "/v1/replays/compose-e2e", nil, &r); code != http.StatusOK || r.State != "STATE_READY" {
			return false, raw
		}
		body := search()
		body["replay"] = "compose-e2e"
		n, raw := s.total(body)
		return n == lines, raw
	}
	polltest.Until(t, "the replay READY with every line", 2*time.Minute, replayed)

	// down keeps the named volumes; up again finds everything where it was.
	if out, err := s.compose(context.Background(), "down"); err != nil {
		t.Fatalf("compose down: %v\n%s", err, out)
	}
	if out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "name="+s.project+"_").Output(); strings.Count(string(out), "\n") < 7 {
		t.Fatalf("after down, volumes: %s", out)
	}
	began = time.Now()
	upTook = s.up()
	t.Logf("second compose up -d returned in %v", upTook.Round(time.Millisecond))
	polltest.Until(t, "the live index kept (OpenSearch volume)", 3*time.Minute, func() (bool, string) {
		n, raw := s.total(search())
		return n == lines, raw
	})
	t.Logf("second up -> searchable again: %v", time.Since(began).Round(time.Millisecond))
	polltest.Until(t, "the replay kept (etcd and replays volumes)", time.Minute, replayed)
	if n, raw := s.archived(rng); n != lines {
		t.Fatalf("the archive after the restart holds %d events, want %d: %s", n, lines, raw)
	}

	// The agent's registry survived too: new lines are shipped, old ones not again.
	s.writeLines(lines, linesAfter)
	polltest.Until(t, "the lines written after the restart searchable", 2*time.Minute, func() (bool, string) {
		n, raw := s.total(search())
		return n == lines+linesAfter, raw
	})
	polltest.Until(t, "the lines written after the restart archived, once", 2*time.Minute, func() (bool, string) {
		n, raw := s.archived(rng)
		if n > lines+linesAfter {
			t.Fatalf("archive holds %d events, want %d: lines shipped twice", n, lines+linesAfter)
		}
		return n == lines+linesAfter, raw
	})
}
