package harvester

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/logging"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// testFingerprint is small so that short test files have an identity.
const testFingerprint = 64

// testConfig reacts in milliseconds rather than seconds.
func testConfig(dir string, routers ...string) Config {
	return Config{
		Host:             "test-host",
		Registry:         filepath.Join(dir, "state", "registry.json"),
		FingerprintBytes: testFingerprint,
		Routers:          routers,
		Batch:            Batch{MaxLines: 50, Linger: 5 * time.Millisecond},
		Window:           4,
		Backoff:          Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		RegistryFlush:    0,
		PollInterval:     10 * time.Millisecond,
		CloseInactive:    time.Minute,
		DrainTimeout:     time.Second,
		Inputs: []Input{{
			Name:         "app",
			Dataset:      "app.log",
			Paths:        []string{filepath.Join(dir, "logs", "*.log")},
			ScanInterval: 10 * time.Millisecond,
		}},
	}
}

// run is one harvester run.
type run struct {
	h       *Harvester
	metrics *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

func start(t *testing.T, cfg Config) *run {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(cfg, testLogger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{h: h, metrics: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the harvester and waits for it; stopping twice is fine.
func (r *run) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	r.once.Do(func() {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("harvester did not stop")
		}
	})
}

// line is the text of line i of a test file named tag.
func line(tag string, i int) string {
	return fmt.Sprintf("%s line %06d %s", tag, i, strings.Repeat("x", 20))
}

// lineRange is the expected text of lines from..to (inclusive).
func lineRange(tag string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, line(tag, i))
	}
	return out
}

// appendLines appends lines from..to of tag to path, creating it if needed.
func appendLines(t *testing.T, path, tag string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(line(tag, i))
		b.WriteByte('\n')
	}
	appendText(t, path, b.String())
}

func appendText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// exactlyOnce waits for the router(s) to have acknowledged len(want) lines,
// lets any straggler arrive, and checks that the acknowledged lines are want,
// each exactly once, with distinct sources. It returns the acked lines.
func exactlyOnce(t *testing.T, want []string, rs ...*routertest.Router) []*routingv1.RawLine {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	count := func() int {
		n := 0
		for _, r := range rs {
			n += r.AckedLineCount()
		}
		return n
	}
	for count() < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond) // room for a duplicate to show up
	var got []*routingv1.RawLine
	for _, r := range rs {
		got = append(got, r.AckedLines()...)
	}
	checkExactlyOnce(t, got, want)
	return got
}

func checkExactlyOnce(t *testing.T, got []*routingv1.RawLine, want []string) {
	t.Helper()
	seen := map[string]int{}
	sources := map[string]bool{}
	for _, l := range got {
		seen[string(l.Line)]++
		src := fmt.Sprintf("%s/%d", l.Source.GetFileId(), l.Source.GetOffset())
		if sources[src] {
			t.Errorf("source %s acknowledged twice (line %q)", src, l.Line)
		}
		sources[src] = true
	}
	missing, extra, dups := 0, 0, 0
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
		switch n := seen[w]; {
		case n == 0:
			if missing++; missing <= 5 {
				t.Errorf("missing line %q", w)
			}
		case n > 1:
			if dups++; dups <= 5 {
				t.Errorf("line %q acknowledged %d times", w, n)
			}
		}
	}
	for s := range seen {
		if !wanted[s] {
			if extra++; extra <= 5 {
				t.Errorf("unexpected line %q", s)
			}
		}
	}
	if missing+extra+dups > 0 || len(got) != len(want) {
		t.Fatalf("%d lines acknowledged, want %d: %d missing, %d unexpected, %d repeated", len(got), len(want), missing, extra, dups)
	}
}

// loadRegistry reads the registry file as the next start would.
func loadRegistry(t *testing.T, cfg Config) map[string]offsets.Entry {
	t.Helper()
	entries, err := offsets.Store{Path: cfg.Registry, FingerprintBytes: cfg.FingerprintBytes}.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]offsets.Entry{}
	for _, e := range entries {
		out[e.ID] = e
	}
	return out
}

func testLogger() *slog.Logger { return logging.ForTests("HARVESTER_TEST_LOG") }
