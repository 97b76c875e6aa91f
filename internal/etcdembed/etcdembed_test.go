package etcdembed

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func start(t *testing.T, c Config) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Start(ctx, c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartPutGetAndSecondClient(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Dir: t.TempDir()})
	ctx := opCtx(t)
	if _, err := e.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	eps := e.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("Endpoints = %v, want one", eps)
	}
	u, err := url.Parse(eps[0])
	if err != nil || u.Port() == "" || u.Port() == "0" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("endpoint %q: want http://127.0.0.1:<real port>", eps[0])
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get = %v, want k=v", resp.Kvs)
	}
}

func TestParallelServersGetDistinctPorts(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	es := make([]*Etcd, 3)
	errs := make([]error, 3)
	for i := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es[i], errs[i] = Start(context.Background(), Config{Dir: t.TempDir()})
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, e := range es {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		t.Cleanup(func() { e.Close() })
		ep := e.Endpoints()[0]
		if seen[ep] {
			t.Fatalf("endpoint %s used twice", ep)
		}
		seen[ep] = true
		if _, err := e.Client().Put(opCtx(t), "k", ep); err != nil {
			t.Fatalf("Put on %s: %v", ep, err)
		}
	}
}

func TestMinimumLeaseTTLIsOneSecond(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Dir: t.TempDir()})
	resp, err := e.Client().Grant(opCtx(t), 1)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if resp.TTL != 1 {
		t.Fatalf("granted TTL = %d, want 1 (etcd raised the minimum)", resp.TTL)
	}
}

func TestRestartInSameDirKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, Config{Dir: dir})
	if _, err := e.Client().Put(opCtx(t), "kept", "yes"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	e2 := start(t, Config{Dir: dir})
	resp, err := e2.Client().Get(opCtx(t), "kept")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" {
		t.Fatalf("after restart Get = %v, want kept=yes", resp.Kvs)
	}
}

func TestTempDirRemovedOnClose(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	if e.tempDir == "" {
		t.Fatal("no temporary dir recorded")
	}
	if _, err := os.Stat(e.tempDir); err != nil {
		t.Fatalf("temp dir missing while running: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.tempDir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s still there after Close (err=%v)", e.tempDir, err)
	}
}

// syncBuffer is a bytes.Buffer safe for etcd's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogging(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level   string
		wantAny bool
	}{
		{level: "", wantAny: false}, // default: errors only, and a clean start has none
		{level: "info", wantAny: true},
	} {
		t.Run("level="+tc.level, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := start(t, Config{Dir: t.TempDir(), Logger: log, LogLevel: tc.level})
			e.Close()
			out := buf.String()
			if got := out != ""; got != tc.wantAny {
				t.Fatalf("level %q: got logs=%v, want %v; logs:\n%.2000s", tc.level, got, tc.wantAny, out)
			}
			if tc.wantAny && !strings.Contains(out, `"component":"etcd"`) {
				t.Fatalf("etcd entries lack component=etcd:\n%.2000s", out)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"host name", Config{ClientAddr: "localhost:0"}, "ClientAddr"},
		{"no port", Config{ClientAddr: "127.0.0.1"}, "ClientAddr"},
		{"private with a port", Config{Private: true, ClientAddr: "127.0.0.1:0"}, "ClientAddr"},
		{"socket of a public server", Config{Socket: "/tmp/x.sock"}, "Socket"},
		{"relative socket", Config{Private: true, Socket: "etcd.sock"}, "Socket"},
		{"bad level", Config{LogLevel: "loud"}, "LogLevel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Dir = t.TempDir()
			e, err := Start(context.Background(), tc.cfg)
			if err == nil {
				e.Close()
				t.Fatalf("Start(%+v) succeeded, want error naming %s", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := Start(ctx, Config{Dir: t.TempDir()})
	if err == nil {
		e.Close()
		t.Fatal("Start with a cancelled context succeeded")
	}
	if !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("error %q, want context canceled", err)
	}
}

// A private server opens no TCP port, neither for clients nor for peers,
// and its own client works in-process.
// (services/allinone's test scans the process' sockets.)
func TestPrivateOpensNoPort(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Dir: t.TempDir(), Private: true})
	if len(e.etcd.Clients) != 0 || len(e.etcd.Peers) != 0 || len(e.Endpoints()) != 0 {
		t.Fatalf("clients %v, peers %v, endpoints %v: want none", e.etcd.Clients, e.etcd.Peers, e.Endpoints())
	}
	ctx := opCtx(t)
	if _, err := e.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	resp, err := e.Client().Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	// Leases and watches (membership's) work in-process too.
	lease, err := e.Client().Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	w := e.Client().Watch(ctx, "w")
	if _, err := e.Client().Put(ctx, "w", "1", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if ev := <-w; ev.Err() != nil || len(ev.Events) != 1 {
		t.Fatalf("watch: %+v", ev)
	}
}

// A public server's only port is its client port: no peer listener.
func TestNoPeerPort(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Dir: t.TempDir()})
	if len(e.etcd.Peers) != 0 || len(e.etcd.Clients) != 1 {
		t.Fatalf("peers %v, clients %v: want no peer and one client listener", e.etcd.Peers, e.etcd.Clients)
	}
}

// A private server's socket is reachable by etcd clients, in a 0700
// directory, the socket itself 0600.
func TestPrivateSocket(t *testing.T) {
	t.Parallel()
	// A short path: unix socket paths are limited to 108 bytes, and test
	// temporary directories can be longer.
	base, err := os.MkdirTemp("/tmp", "ee")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	sock := base + "/s/etcd.sock"
	e := start(t, Config{Dir: t.TempDir(), Private: true, Socket: sock})
	if eps := e.Endpoints(); len(eps) != 1 || eps[0] != "unix://"+sock {
		t.Fatalf("Endpoints = %v, want [unix://%s]", eps, sock)
	}
	for path, want := range map[string]os.FileMode{base + "/s": 0o700, sock: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	ctx := opCtx(t)
	if _, err := e.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get through the socket = %v, %v", resp, err)
	}
}
