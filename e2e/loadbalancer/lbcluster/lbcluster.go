// Package lbcluster starts, for one test, what keeps a load balancer in step
// with membership: etcd, the membership service, the agent (registering
// containers from their Docker labels), and HAProxy with the renderer owning
// its config; plus helpers to start labelled web backends, follow the load
// balancer's logs with the engine's timestamps, and read its config.
//
// The load balancer image (hindsight-e2e-test/lb) is HAProxy's test image
// (e2e/images/build.sh haproxy) with the Bazel-built render binary added: the
// renderer runs next to HAProxy in its container, as confd is deployed, and
// reloads it with a signal. Nothing else reaches into the container.
package lbcluster

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazelbuild/rules_go/go/runfiles"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Image tags.
const (
	LBImage = "hindsight-e2e-test/lb:latest"
	// Service is the service name the web backends register as.
	Service = "web"
	// ConfigPath is haproxy.cfg inside the load balancer container.
	ConfigPath = "/usr/local/etc/haproxy/haproxy.cfg"
)

//go:embed files
var files embed.FS

// Cluster is everything one test runs.
type Cluster struct {
	Docker     *client.Client
	Network    string
	Etcd       *harness.Etcd
	Membership testcontainers.Container
	// Members is a gRPC client of the membership service.
	Members membershipv1.MembershipServiceClient
	Agent   testcontainers.Container
	LB      testcontainers.Container
	// LBURL is HAProxy's frontend on loopback; RenderAdmin the renderer's admin listener.
	LBURL, RenderAdmin string
	// LBLog follows the load balancer container's output (HAProxy and the renderer).
	LBLog *LogFollower

	webImage string
}

// Start starts the cluster; everything is removed when the test ends.
func Start(t *testing.T) *Cluster {
	t.Helper()
	docker, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Docker: docker}
	nw := harness.Network(t)
	c.Network = nw.Name
	c.webImage = harness.LoadImage(t, "e2e/loadbalancer/testdata/web/web_service_image.tar")
	buildLBImage(t, docker)

	c.Etcd = harness.StartEtcd(t, nw)
	c.Membership = harness.Start(t, nw, []string{"membership"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/membership_image.tar"),
		ExposedPorts: []string{"9301/tcp", "9302/tcp"},
		Env: map[string]string{
			"HINDSIGHT_ETCD_ENDPOINTS": c.Etcd.NetworkEndpoint,
			"HINDSIGHT_LOG_LEVEL":      "debug",
		},
		WaitingFor: wait.ForHTTP("/readyz").WithPort("9302/tcp").WithStartupTimeout(60 * time.Second),
	})
	addr, err := c.Membership.PortEndpoint(context.Background(), "9301/tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), harness.GRPCCredentials(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.Members = membershipv1.NewMembershipServiceClient(conn)

	socket := os.Getenv("HINDSIGHT_E2E_DOCKER_SOCKET") // the engine's socket as the engine's host sees it
	if socket == "" {
		socket = "/var/run/docker.sock"
	}
	c.Agent = harness.Start(t, nw, []string{"agent"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/agent_image.tar"),
		ExposedPorts: []string{"9802/tcp"},
		Env: map[string]string{
			"HINDSIGHT_MEMBERSHIP_ENDPOINT": "membership:9301",
			"HINDSIGHT_DOCKER_NETWORK":      nw.Name,
			"HINDSIGHT_NODE":                "e2e-" + nw.Name,
			"HINDSIGHT_LOG_LEVEL":           "debug",
		},
		// The engine's socket is root's: the agent runs as root in its container.
		ConfigModifier:     func(cfg *container.Config) { cfg.User = "0:0" },
		HostConfigModifier: func(hc *container.HostConfig) { hc.Binds = append(hc.Binds, socket+":/var/run/docker.sock") },
		WaitingFor:         wait.ForHTTP("/readyz").WithPort("9802/tcp").WithStartupTimeout(60 * time.Second),
	})

	c.LB = harness.Start(t, nw, []string{"lb"}, testcontainers.ContainerRequest{
		Image:        LBImage,
		ExposedPorts: []string{"80/tcp", "9902/tcp"},
		Env:          map[string]string{"HINDSIGHT_ETCD_ENDPOINTS": c.Etcd.NetworkEndpoint},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("9902/tcp").WithStartupTimeout(60 * time.Second),
	})
	if c.LBURL, err = c.LB.PortEndpoint(context.Background(), "80/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	if c.RenderAdmin, err = c.LB.PortEndpoint(context.Background(), "9902/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	c.LBLog = Follow(t, docker, c.LB.GetContainerID())
	return c
}

// buildLBImage builds hindsight-e2e-test/lb from the HAProxy test image, the
// render binary and the files beside this package.
func buildLBImage(t *testing.T, docker *client.Client) {
	t.Helper()
	harness.RequireImage(t, harness.HAProxyImage)
	render, err := Binary("services/render/render_/render")
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]File{}
	for _, f := range []string{"Dockerfile", "entrypoint.sh", "haproxy.cfg.tmpl", "render.yaml"} {
		b, err := files.ReadFile("files/" + f)
		if err != nil {
			t.Fatal(err)
		}
		ctx[f] = File{Data: b, Exec: strings.HasSuffix(f, ".sh")}
	}
	rb, err := os.ReadFile(render)
	if err != nil {
		t.Fatal(err)
	}
	ctx["render"] = File{Data: rb, Exec: true}
	BuildImage(t, docker, LBImage, ctx)
}

// File is one file of an image build context.
type File struct {
	Data []byte
	Exec bool
}

// BuildImage builds an image from a Dockerfile and files (a build context
// with no network: everything it needs is in the context or the parent image).
func BuildImage(t *testing.T, docker *client.Client, tag string, files map[string]File) {
	t.Helper()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, f := range files {
		mode := int64(0o644)
		if f.Exec {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(f.Data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.Data)
	}
	tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := docker.ImageBuild(ctx, &ctxTar, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, NetworkMode: "none"})
	if err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	var out strings.Builder
	for {
		var msg struct {
			Stream      string
			ErrorDetail *struct{ Message string }
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("build %s: %v", tag, err)
		}
		out.WriteString(msg.Stream)
		if msg.ErrorDetail != nil {
			t.Fatalf("build %s: %s\n%s", tag, msg.ErrorDetail.Message, out.String())
		}
	}
}

// Binary finds a Bazel-built file: in the runfiles under bazel test,
// in bazel-bin/ otherwise.
func Binary(rel string) (string, error) {
	if os.Getenv("TEST_SRCDIR") != "" || os.Getenv("RUNFILES_DIR") != "" {
		p, err := runfiles.Rlocation("_main/" + rel)
		if err == nil {
			if _, err = os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s not in the runfiles (%v): add its target to the go_test's data", rel, err)
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "MODULE.bazel")); err == nil {
			p := filepath.Join(dir, "bazel-bin", rel)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%s not built: run `tools/bazel build //%s`", p, filepath.Dir(filepath.Dir(rel)))
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no MODULE.bazel above the working directory")
		}
		dir = parent
	}
}

// Web is one labelled backend container.
type Web struct {
	Container testcontainers.Container
	Name      string
	IP        string
	// URL reaches it directly, on a port mapped to loopback.
	URL string
	// Started is when the engine started it (its clock is the test's).
	Started time.Time
}

// WebLabels are the labels that register a web backend; extra ones are added.
func WebLabels(extra map[string]string) map[string]string {
	l := map[string]string{
		"hindsight.service":        Service,
		"hindsight.port":           "8080",
		"hindsight.check":          "http:/healthz",
		"hindsight.check.interval": "500ms",
		"hindsight.ttl":            "10s",
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// StartWeb starts a web backend named name with labels (WebLabels(nil) for
// the usual ones). image "" is the suite's web image.
func (c *Cluster) StartWeb(t *testing.T, name, image string, labels map[string]string, env map[string]string) *Web {
	t.Helper()
	if image == "" {
		image = c.webImage
	}
	// Container names are global to the engine: suffix the test's network.
	cname := name + "-" + c.Network[:min(8, len(c.Network))]
	e := map[string]string{"WEB_NAME": cname} // answers with its member id
	for k, v := range env {
		e[k] = v
	}
	ctr := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image:        image,
		Name:         cname,
		Networks:     []string{c.Network},
		Labels:       labels,
		Env:          e,
		ExposedPorts: []string{"8080/tcp"},
		WaitingFor:   wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(30 * time.Second),
	})
	w := &Web{Container: ctr, Name: name}
	ins, err := c.Docker.ContainerInspect(context.Background(), ctr.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Name = strings.TrimPrefix(ins.Container.Name, "/")
	if ep := ins.Container.NetworkSettings.Networks[c.Network]; ep != nil {
		w.IP = ep.IPAddress.String()
	}
	if w.Started, err = time.Parse(time.RFC3339Nano, ins.Container.State.StartedAt); err != nil {
		t.Fatal(err)
	}
	if w.URL, err = ctr.PortEndpoint(context.Background(), "8080/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	return w
}

// Kill sends SIGKILL to the container (docker kill) and returns when the
// engine was told.
func (c *Cluster) Kill(t *testing.T, w *Web) time.Time {
	t.Helper()
	at := time.Now()
	if _, err := c.Docker.ContainerKill(context.Background(), w.Container.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("kill %s: %v", w.Name, err)
	}
	return at
}

// SetHealthy makes the backend's /healthz answer 200 or 503.
func (w *Web) SetHealthy(t *testing.T, ok bool) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("%s/health?ok=%v", w.URL, ok), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// Config reads haproxy.cfg from the load balancer container.
func (c *Cluster) Config(t *testing.T) string {
	t.Helper()
	r, err := c.LB.CopyFileFromContainer(context.Background(), ConfigPath)
	if err != nil {
		t.Fatalf("read %s: %v", ConfigPath, err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// Servers lists the server names in haproxy.cfg, in order.
func Servers(cfg string) []string {
	var out []string
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "server" {
			out = append(out, f[1])
		}
	}
	return out
}

// WaitServers waits until haproxy.cfg's servers satisfy ok.
func (c *Cluster) WaitServers(t *testing.T, within time.Duration, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := Servers(c.Config(t))
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy.cfg servers %v never satisfied the condition within %s", s, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RenderStatus is the renderer's /status.
func (c *Cluster) RenderStatus(t *testing.T) []map[string]any {
	t.Helper()
	resp, err := harness.HTTPClient(t).Get(c.RenderAdmin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// RenderMetric returns the sum of a renderer metric's samples whose label set
// contains every match (e.g. `resource="haproxy"`).
func (c *Cluster) RenderMetric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	resp, err := harness.HTTPClient(t).Get(c.RenderAdmin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, m := range match {
			if !strings.Contains(line, m) {
				continue next
			}
		}
		var v float64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		sum += v
	}
	return sum
}

// LogLine is one line a container wrote, stamped by the engine.
type LogLine struct {
	Time time.Time
	Text string
}

// LogFollower collects a container's output as it comes.
type LogFollower struct {
	mu    sync.Mutex
	lines []LogLine
	added chan struct{}
}

// Follow starts following a container's stdout and stderr until the test ends.
func Follow(t *testing.T, docker *client.Client, id string) *LogFollower {
	t.Helper()
	f := &LogFollower{added: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := docker.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true})
	if err != nil {
		cancel()
		t.Fatalf("follow logs: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); rc.Close(); wg.Wait() })
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	wg.Add(3)
	go func() {
		defer wg.Done()
		stdcopy.StdCopy(outW, errW, rc)
		outW.Close()
		errW.Close()
	}()
	for _, r := range []io.Reader{outR, errR} {
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				ts, text, _ := strings.Cut(sc.Text(), " ")
				at, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					continue
				}
				f.mu.Lock()
				f.lines = append(f.lines, LogLine{at, text})
				f.mu.Unlock()
				select {
				case f.added <- struct{}{}:
				default:
				}
			}
			io.Copy(io.Discard, r)
		}()
	}
	return f
}

// Lines returns the lines written after since that contain substr.
func (f *LogFollower) Lines(since time.Time, substr string) []LogLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []LogLine
	for _, l := range f.lines {
		if l.Time.After(since) && strings.Contains(l.Text, substr) {
			out = append(out, l)
		}
	}
	return out
}

// Wait returns the first line after since containing substr, waiting up to within.
func (f *LogFollower) Wait(since time.Time, substr string, within time.Duration) (LogLine, bool) {
	deadline := time.After(within)
	for {
		if ls := f.Lines(since, substr); len(ls) > 0 {
			return ls[0], true
		}
		select {
		case <-f.added:
		case <-deadline:
			return LogLine{}, false
		}
	}
}

// ReloadMarker is what HAProxy's master prints once a reload is in effect
// (the new worker has read the new config).
const ReloadMarker = "New worker"
