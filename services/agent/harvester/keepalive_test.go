package harvester

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// blackhole is a TCP proxy to a router whose existing connections can be made
// to swallow every byte without closing: what a router that vanished (its
// host crashed, its container was killed) looks like from the agent, which
// gets neither FIN nor RST. New connections are forwarded normally, as to
// the router restarted at the same address.
type blackhole struct {
	addr  string
	mu    sync.Mutex
	conns []*holeConn
}

type holeConn struct {
	mu     sync.Mutex
	frozen bool
}

func (c *holeConn) isFrozen() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.frozen }

func newBlackhole(t *testing.T, backend string) *blackhole {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	b := &blackhole{addr: lis.Addr().String()}
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			hc := &holeConn{}
			b.mu.Lock()
			b.conns = append(b.conns, hc)
			b.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 && !hc.isFrozen() {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return b
}

// swallow freezes every connection open now.
func (b *blackhole) swallow() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.mu.Lock()
		c.frozen = true
		c.mu.Unlock()
	}
}

// A router that vanishes without closing its connection is noticed by gRPC
// keepalive within seconds, and the batches in flight are resent on a new
// connection: the agent does not sit out the whole ack timeout (2 minutes by
// default). Found by e2e/pipeline: each SIGKILLed router container stalled
// shipping until the ack timeout.
func TestVanishedRouterDetectedByKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for gRPC keepalive (about 15 s)")
	}
	dir := t.TempDir()
	r := routertest.Start(t)
	hole := newBlackhole(t, r.Addr())
	cfg := testConfig(dir, hole.addr)
	cfg.AckTimeout = 10 * time.Minute
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 500)
	start(t, cfg)
	r.WaitAckedLines(t, 500, 10*time.Second)

	hole.swallow()
	began := time.Now()
	appendLines(t, path, "a", 501, 1000)
	// Batches whose acks the vanished connection swallowed are resent: at
	// least once, each repeat with the same source (hence the same event id).
	want := lineRange("a", 1, 1000)
	deadline := time.Now().Add(40 * time.Second)
	for {
		sources := map[string]string{}
		for _, l := range r.AckedLines() {
			src := fmt.Sprintf("%s/%d", l.Source.GetFileId(), l.Source.GetOffset())
			if prev, ok := sources[string(l.Line)]; ok && prev != src {
				t.Fatalf("line %q acknowledged from two sources: %s and %s", l.Line, prev, src)
			}
			sources[string(l.Line)] = src
		}
		missing := 0
		for _, w := range want {
			if _, ok := sources[w]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines not acknowledged %s after the router vanished", missing, len(want), time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("vanished router noticed and batches resent in %s", time.Since(began).Round(time.Millisecond))
}
