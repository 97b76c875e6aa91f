package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/internal/logging"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/services/agent/harvester"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// fakeDocker answers inspects from its containers, or fails them all while down.
type fakeDocker struct {
	mu         sync.Mutex
	down       bool
	containers map[string]container.InspectResponse
	calls      int
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return client.ContainerInspectResult{}, errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
	}
	c, ok := f.containers[id]
	if !ok {
		return client.ContainerInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such container: " + id)
	}
	return client.ContainerInspectResult{Container: c}, nil
}

func (f *fakeDocker) set(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func id(n int) string { return fmt.Sprintf("%064x", n) }

func inspect(name, image string, labels map[string]string) container.InspectResponse {
	return container.InspectResponse{Name: "/" + name, Config: &container.Config{Image: image, Labels: labels}}
}

// writeLog appends json-file lines to container cid's log under dir.
func writeLog(t *testing.T, dir, cid string, msgs ...string) {
	t.Helper()
	p := filepath.Join(dir, cid, cid+"-json.log")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, m := range msgs {
		b, _ := json.Marshal(map[string]string{"log": m + "\n", "stream": "stdout", "time": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintf(f, "%s\n", b)
	}
}

func msgs(tag string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s message %04d %s", tag, i, strings.Repeat("x", 40)))
	}
	return out
}

func TestDiscoverMetadata(t *testing.T) {
	dir := t.TempDir()
	labels := map[string]string{
		"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
		"hindsight.dataset": "nginx.access", "hindsight.parser": "combined", "org.opencontainers.image.title": "nginx",
	}
	for i := range 80 {
		labels[fmt.Sprintf("z.filler.%02d", i)] = "v"
	}
	d := &fakeDocker{containers: map[string]container.InspectResponse{
		id(1): inspect("shop-web-1", "nginx:1.27", labels),
		id(2): inspect("bad-dataset", "busybox", map[string]string{"hindsight.dataset": "Not Valid"}),
	}}
	writeLog(t, dir, id(1), "a")
	writeLog(t, dir, id(2), "b")
	writeLog(t, dir, id(3), "c")                              // a directory the engine does not know
	os.MkdirAll(filepath.Join(dir, "not-a-container"), 0o755) // ignored
	disc := New(d, Options{Dir: dir, Dataset: "containers", MetadataWait: time.Hour, UnknownGrace: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	// A directory the engine does not know yet waits: the engine makes a
	// container's directory before it knows the container.
	if ins := disc.Discover(context.Background()); len(ins) != 2 {
		t.Fatalf("%d inputs at first, want 2 (id 3 unknown for now): %+v", len(ins), ins)
	}
	time.Sleep(60 * time.Millisecond)
	ins := disc.Discover(context.Background())
	if len(ins) != 3 {
		t.Fatalf("%d inputs, want 3: %+v", len(ins), ins)
	}
	web := ins[0]
	if web.Name != "container/"+id(1) || web.Dataset != "nginx.access" || web.Parser != "combined" || web.Format != "docker" {
		t.Errorf("input %+v", web)
	}
	for k, v := range map[string]string{
		"container.id": id(1), "container.name": "shop-web-1", "container.image.name": "nginx:1.27",
		"container.labels.com_docker_compose_service": "web", "container.labels.com_docker_compose_project": "shop",
		"container.labels.hindsight_dataset": "nginx.access",
	} {
		if web.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, web.Labels[k], v)
		}
	}
	if n := len(web.Labels); n > 64-5 {
		t.Errorf("%d labels: over what a batch may carry with stream and parser", n)
	}
	if ins[1].Dataset != "containers" || ins[1].Labels["container.name"] != "bad-dataset" {
		t.Errorf("a bad dataset label: %+v", ins[1])
	}
	if ins[2].Dataset != "containers" || len(ins[2].Labels) != 1 || ins[2].Labels["container.id"] != id(3) {
		t.Errorf("an unknown container: %+v", ins[2])
	}
	calls := d.calls
	disc.Discover(context.Background())
	if d.calls != calls {
		t.Errorf("the engine was asked again about containers it answered for")
	}
}

// An agent that starts before the engine: containers found while the engine
// does not answer wait for their metadata, then are read with it; after
// MetadataWait without an answer a container is read with its id only, and
// its later batches carry the metadata once the engine is back. Every line
// is shipped once.
func TestEngineDownAndBack(t *testing.T) {
	dir := t.TempDir()
	d := &fakeDocker{down: true, containers: map[string]container.InspectResponse{
		id(1): inspect("early", "busybox", map[string]string{"com.docker.compose.service": "early"}),
		id(2): inspect("late", "busybox", nil),
	}}
	r := routertest.Start(t)
	cfg := harvester.Config{
		Host: "node-1", Registry: filepath.Join(dir, "registry.json"), FingerprintBytes: 64, Routers: []string{r.Addr()},
		Batch: harvester.Batch{MaxLines: 10, Linger: 5 * time.Millisecond}, PollInterval: 10 * time.Millisecond,
		Backoff: harvester.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}
	logs := filepath.Join(dir, "containers")
	disc := New(d, Options{Dir: logs, Dataset: "containers", MetadataWait: 500 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	h, err := harvester.New(cfg, testLog(), prometheus.NewRegistry(),
		harvester.Dynamic{Name: "containers", Find: disc, Every: 20 * time.Millisecond, Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	time.Sleep(100 * time.Millisecond) // no containers directory yet: nothing to do
	writeLog(t, logs, id(1), msgs("early", 30)...)
	time.Sleep(200 * time.Millisecond)
	if n := r.ReceivedLineCount(); n != 0 {
		t.Fatalf("%d lines shipped before the metadata wait was over", n)
	}
	polltest.True(t, "the early container read with its id only", 20*time.Second, func() bool { return r.AckedLineCount() == 30 })
	for _, b := range r.Acked() {
		if b.Labels["container.id"] != id(1) || b.Labels["container.name"] != "" {
			t.Fatalf("labels while the engine is down: %v", b.Labels)
		}
	}

	d.set(false)
	writeLog(t, logs, id(2), msgs("late", 20)...)
	polltest.True(t, "the late container read", 20*time.Second, func() bool { return r.AckedLineCount() == 50 })
	// The early container (listed first) got its metadata in the round
	// that found the late one, or before.
	writeLog(t, logs, id(1), msgs("early-after", 10)...)
	polltest.True(t, "more early lines", 20*time.Second, func() bool { return r.AckedLineCount() == 60 })
	count := map[string]int{}
	for _, b := range r.Acked() {
		for _, l := range lineblock.Lines(b) {
			count[string(l.Line)]++
			tag, _, _ := strings.Cut(string(l.Line), " ")
			want := map[string]string{"early": "", "late": "late", "early-after": "early"}[tag]
			if b.Labels["container.name"] != want {
				t.Errorf("line %q: container.name %q, want %q", l.Line, b.Labels["container.name"], want)
			}
		}
	}
	for m, n := range count {
		if n != 1 {
			t.Errorf("line %q acknowledged %d times", m, n)
		}
	}
	if len(count) != 60 {
		t.Errorf("%d distinct lines, want 60", len(count))
	}
}

func testLog() *slog.Logger { return logging.ForTests("HARVESTER_TEST_LOG") }

// A container whose directory shows before the engine knows it (docker run
// makes the directory first) is read with its metadata once the engine
// knows it, not taken for a leftover with the id alone.
func TestDirectoryBeforeContainer(t *testing.T) {
	dir := t.TempDir()
	d := &fakeDocker{containers: map[string]container.InspectResponse{}}
	writeLog(t, dir, id(7), "a")
	disc := New(d, Options{Dir: dir, Dataset: "containers", MetadataWait: time.Hour, UnknownGrace: time.Hour, Log: slog.New(slog.DiscardHandler)})
	if ins := disc.Discover(context.Background()); len(ins) != 0 {
		t.Fatalf("inputs before the engine knows the container: %+v", ins)
	}
	d.mu.Lock()
	d.containers[id(7)] = inspect("shop-web-1", "nginx:1.27", map[string]string{"hindsight.dataset": "shop.web"})
	d.mu.Unlock()
	ins := disc.Discover(context.Background())
	if len(ins) != 1 || ins[0].Dataset != "shop.web" || ins[0].Labels["container.name"] != "shop-web-1" {
		t.Fatalf("inputs once the engine knows it: %+v", ins)
	}
}
