// Package containers_test runs the agent's container logs input against a
// real Docker engine of its own: containers write through the json-file
// driver, the agent binary (started before the engine) ships their lines
// with the engine's metadata to the all-in-one binary's router, and they
// are searched there; the engine is then restarted under the agent, and
// what the containers write after it arrives too, each line once.
//
// The engine is a second dockerd on the host (its own data root, exec root
// and socket; no bridge, no iptables; vfs storage; its own network
// namespace), started in the host's mount namespace, so the suite can stop
// and start it without touching the engine the other suites share. Its log
// driver rotates small files and compresses them, as production engines
// are often set up. It needs root, as every e2e suite here.
package containers_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

var (
	agentBin    = flag.String("agent", "", "agent binary (default: go build ./services/agent)")
	allinoneBin = flag.String("allinone", "", "all-in-one binary (default: go build ./services/allinone)")
)

func TestMain(m *testing.M) { harness.Main(m) }

// baseImage is the image the containers run, copied into the suite's engine
// from the shared one (e2e/images/build.sh builds it).
const baseImage = "hindsight-e2e/debian-base:bookworm"

// inNamespace: under tools/bazel the test runs in a mount namespace whose
// root is Bazel's root fs; the host's root is at /.host and its /run at
// /run/host. Commands of the host (dockerd, docker) run in the host's
// mount namespace through nsenter, entered by way of the shared engine's
// dockerd, which runs there (PID 1 may not be ours to enter).
func inNamespace() bool {
	_, err := os.Stat("/.host")
	return err == nil
}

var hostPID = sync.OnceValue(func() string {
	self, _ := os.Readlink("/proc/self/ns/mnt")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		ns, _ := os.Readlink(filepath.Join(d, "ns", "mnt"))
		if strings.TrimSpace(string(comm)) == "dockerd" && ns != "" && ns != self {
			return filepath.Base(d)
		}
	}
	return "1"
})

// hostCmd runs a command of the host, with the host's PATH (a test's is
// short, and dockerd finds containerd and runc through it) and the host's
// default Docker socket (the test's DOCKER_HOST is a path of the namespace).
func hostCmd(args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if inNamespace() {
		cmd = exec.Command("nsenter", append([]string{"-t", hostPID(), "-m", "--"}, args...)...)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") && !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return cmd
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := hostCmd(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// engine is the suite's own dockerd.
type engine struct {
	dataRoot, execRoot, sock string // host paths
	log                      string
	cmd                      *exec.Cmd
	done                     chan struct{}
}

func (e *engine) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(e.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// A network namespace of its own: a dockerd without a default bridge
	// deletes the host's docker0 at start, which would cut every other
	// engine's containers off the network. The agent reaches it by its
	// socket and reads its containers' logs from its data root.
	e.cmd = hostCmd("unshare", "--net", "--", "dockerd", "--data-root", e.dataRoot, "--exec-root", e.execRoot,
		"--pidfile", filepath.Join(e.execRoot, "dockerd.pid"), "-H", "unix://"+e.sock,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--storage-driver=vfs",
		// Small files, compressed once rotated: the test's containers rotate theirs.
		"--cgroup-parent=/hindsight-e2e-containers", "--log-driver=json-file",
		"--log-opt=max-size=64k", "--log-opt=max-file=5", "--log-opt=compress=true")
	e.cmd.Stdout, e.cmd.Stderr = f, f
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.done = make(chan struct{})
	go func() { e.cmd.Wait(); f.Close(); close(e.done) }()
	polltest.Until(t, "the suite's dockerd to answer", 60*time.Second, func() (bool, string) {
		out, err := hostCmd("docker", "-H", "unix://"+e.sock, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		return err == nil, string(out)
	})
}

// stop stops dockerd as systemd does (SIGTERM, wait): without live-restore
// it stops the containers, which start again with it (restart: always).
func (e *engine) stop(t *testing.T) {
	t.Helper()
	if e.cmd == nil {
		return
	}
	pid := strings.TrimSpace(run(t, "cat", filepath.Join(e.execRoot, "dockerd.pid")))
	run(t, "kill", "-TERM", pid)
	select {
	case <-e.done:
	case <-time.After(60 * time.Second):
		t.Fatal("dockerd did not stop within 60s")
	}
	e.cmd = nil
}

func (e *engine) docker(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, append([]string{"docker", "-H", "unix://" + e.sock}, args...)...)
}

// process runs a binary of ours until the test ends, its output in a file
// shown when the test fails.
func process(t *testing.T, logFile string, env []string, bin string, args ...string) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("%s output (end):\n%s", filepath.Base(bin), b)
		}
	})
}

type event struct {
	Message string            `json:"message"`
	Dataset string            `json:"dataset"`
	Labels  map[string]string `json:"labels"`
}

type searchResp struct {
	Total         string  `json:"total"`
	Events        []event `json:"events"`
	NextPageToken string  `json:"nextPageToken"`
}

// search returns every event of dataset in the last hour, page by page.
func search(base string, dataset string) (searchResp, string) {
	now := time.Now().UTC()
	var all searchResp
	for token := ""; ; {
		body, _ := json.Marshal(map[string]any{"datasets": []string{dataset}, "pageSize": 500, "pageToken": token,
			"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)})
		resp, err := http.Post(base+"/v1/search", "application/json", bytes.NewReader(body))
		if err != nil {
			return searchResp{}, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r searchResp
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil {
			return searchResp{}, fmt.Sprintf("%d %.500s", resp.StatusCode, b)
		}
		all.Total = r.Total
		all.Events = append(all.Events, r.Events...)
		if token = r.NextPageToken; token == "" || len(r.Events) == 0 {
			return all, fmt.Sprintf("total %s, %d events", all.Total, len(all.Events))
		}
	}
}

// writer is the script of a container: a run id, n numbered lines on
// stdout, one on stderr, one of 20000 bytes (the engine splits it into
// 16 KiB parts), then it sleeps (restart: always starts it again with a new
// run id when the engine comes back).
func writer(name string, n int) string {
	return fmt.Sprintf(`r=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'); `+
		`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "%s $r line $i"; done; `+
		`echo "%s $r failed" >&2; `+
		`printf '%%s %%s long %%s\r\n' %s $r "$(head -c 20000 /dev/zero | tr '\0' a)"; `+
		`exec sleep infinity`, n, name, name, name)
}

// runs groups a container's events by run id, checking each run's lines:
// n numbered lines once each, the stderr line, the long line whole.
func runs(t *testing.T, evs []event, name string, n int) map[string]int {
	t.Helper()
	byRun := map[string]map[string]int{}
	for _, e := range evs {
		f := strings.Fields(e.Message)
		if len(f) < 3 || f[0] != name {
			t.Fatalf("unexpected event %.200q", e.Message)
		}
		if byRun[f[1]] == nil {
			byRun[f[1]] = map[string]int{}
		}
		byRun[f[1]][strings.Join(f[2:], " ")]++
		switch f[2] {
		case "failed":
			if e.Labels["stream"] != "stderr" {
				t.Errorf("%q: stream %q, want stderr", e.Message, e.Labels["stream"])
			}
		case "long":
			if len(f) != 4 || len(f[3]) != 20000 || strings.Trim(f[3], "a") != "" {
				t.Errorf("the long line came as %d bytes (%d fields), want 20000 a's joined from its parts, CRLF stripped", len(e.Message), len(f))
			}
			if e.Labels["stream"] != "stdout" {
				t.Errorf("long line: stream %q, want stdout", e.Labels["stream"])
			}
		default:
			if e.Labels["stream"] != "stdout" {
				t.Errorf("%q: stream %q, want stdout", e.Message, e.Labels["stream"])
			}
		}
	}
	out := map[string]int{}
	for r, lines := range byRun {
		total := 0
		for l, c := range lines {
			if c != 1 {
				t.Errorf("%s run %s: %q %d times", name, r, l, c)
			}
			total += c
		}
		if total != n+2 {
			t.Errorf("%s run %s: %d events, want %d", name, r, total, n+2)
		}
		out[r] = total
	}
	return out
}

func TestContainerLogs(t *testing.T) {
	harness.RequireImage(t, baseImage)
	agent := harness.Binary(t, *agentBin, "github.com/hindsight-dev/hindsight/services/agent")
	allinone := harness.Binary(t, *allinoneBin, "github.com/hindsight-dev/hindsight/services/allinone")
	dir := harness.HostDir(t, "containers")
	// Unix sockets take 108 bytes at most: the engine's socket and exec root
	// are under /run (at /run/host inside the namespace).
	execRoot := fmt.Sprintf("/run/hindsight-e2e-containers-%d", os.Getpid())
	sockHere := execRoot + "/docker.sock"
	if inNamespace() {
		sockHere = "/run/host" + strings.TrimPrefix(execRoot, "/run") + "/docker.sock"
	}
	e := &engine{dataRoot: filepath.Join(dir, "docker"), execRoot: execRoot, sock: execRoot + "/docker.sock",
		log: filepath.Join(dir, "dockerd.log")}
	t.Cleanup(func() {
		if e.cmd != nil {
			hostCmd("sh", "-c", "docker -H unix://"+e.sock+" rm -f $(docker -H unix://"+e.sock+" ps -aq)").Run()
			e.stop(t)
		}
		hostCmd("rm", "-rf", execRoot, e.dataRoot).Run()
		if t.Failed() {
			b, _ := os.ReadFile(e.log)
			t.Logf("dockerd log (end):\n%s", b[max(0, len(b)-10000):])
		}
	})

	ai := harness.StartAllInOne(t, allinone, filepath.Join(dir, "allinone"), dir, "--log-format=text")
	base := ai.Base

	// The agent starts before the engine: no containers directory, no socket.
	// The agent's own ports take the suite's tokens; the all-in-one on
	// loopback needs none, and ignores the agent's.
	process(t, filepath.Join(dir, "agent.log"), []string{"DOCKER_HOST=unix://" + sockHere}, agent, append(harness.AuthFlags(t),
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--node", "node-1", "--docker-watch=false", "--log-format", "text",
		"--harvester-containers", "--harvester-containers-dir", filepath.Join(e.dataRoot, "containers"),
		"--harvester-containers-scan", "500ms", "--harvester-containers-metadata-wait", "5m",
		"--harvester-routers", ai.GRPC,
		"--harvester-registry", filepath.Join(dir, "agent-registry.json"))...)
	time.Sleep(2 * time.Second)

	began := time.Now()
	e.start(t)
	t.Logf("the suite's dockerd answered in %v", time.Since(began).Round(time.Millisecond))
	run(t, "sh", "-c", "docker save "+baseImage+" | docker -H unix://"+e.sock+" load -q")

	const n = 300
	webID := e.docker(t, "run", "-d", "--name", "shop-web-1", "--restart", "always", "--network", "none",
		"-l", "com.docker.compose.project=shop", "-l", "com.docker.compose.service=web", "-l", "hindsight.dataset=shop.web",
		baseImage, "sh", "-c", writer("web", n))
	began = time.Now()
	var r searchResp
	polltest.Until(t, "the web container's lines searchable", 90*time.Second, func() (bool, string) {
		var s string
		r, s = search(base, "shop.web")
		return r.Total == fmt.Sprint(n+2) && len(r.Events) == n+2, s
	})
	t.Logf("a container's %d lines searchable %v after it started", n+2, time.Since(began).Round(time.Millisecond))
	if got := runs(t, r.Events, "web", n); len(got) != 1 {
		t.Fatalf("runs before the restart: %v", got)
	}
	for _, ev := range r.Events {
		for k, v := range map[string]string{
			"container.id": webID, "container.name": "shop-web-1", "container.image.name": baseImage,
			"container.labels.com_docker_compose_project": "shop", "container.labels.com_docker_compose_service": "web",
		} {
			if ev.Labels[k] != v {
				t.Fatalf("event %.80q: label %s = %q, want %q (labels %v)", ev.Message, k, ev.Labels[k], v, ev.Labels)
			}
		}
	}

	// The engine restarts under the agent: the web container runs again
	// (a second run in the same log file), and a container started after
	// the restart is found with its metadata.
	began = time.Now()
	e.stop(t)
	e.start(t)
	t.Logf("dockerd restarted in %v", time.Since(began).Round(time.Millisecond))
	dbID := e.docker(t, "run", "-d", "--name", "shop-db-1", "--network", "none",
		"-l", "com.docker.compose.project=shop", "-l", "com.docker.compose.service=db",
		baseImage, "sh", "-c", writer("db", 50))
	polltest.Until(t, "the web container's second run searchable", 90*time.Second, func() (bool, string) {
		var s string
		r, s = search(base, "shop.web")
		return r.Total == fmt.Sprint(2*(n+2)) && len(r.Events) == 2*(n+2), s
	})
	// Two runs outgrow --log-opt max-size=64k: the driver rotated the file
	// while the agent read it (renamed to -json.log.1, then compressed to
	// -json.log.1.gz, which the agent knows as the file it read: the counts
	// above say nothing came twice).
	polltest.Until(t, "the web container's log rotated and compressed", 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(e.dataRoot, "containers", webID, webID+"-json.log.1.gz"))
		return err == nil, fmt.Sprint(err)
	})
	if got := runs(t, r.Events, "web", n); len(got) != 2 {
		t.Fatalf("web runs after the restart: %v, want 2", got)
	}
	polltest.Until(t, "the db container's lines searchable", 90*time.Second, func() (bool, string) {
		var s string
		r, s = search(base, "containers")
		return r.Total == fmt.Sprint(50+2) && len(r.Events) == 50+2, s
	})
	runs(t, r.Events, "db", 50)
	for _, ev := range r.Events {
		if ev.Labels["container.id"] != dbID || ev.Labels["container.name"] != "shop-db-1" ||
			ev.Labels["container.labels.com_docker_compose_service"] != "db" {
			t.Fatalf("db event labels %v", ev.Labels)
		}
	}
	time.Sleep(3 * time.Second) // room for a duplicate to show up
	if r, s := search(base, "shop.web"); r.Total != fmt.Sprint(2*(n+2)) {
		t.Fatalf("web events after a pause: %s, want %d", s, 2*(n+2))
	}
}
