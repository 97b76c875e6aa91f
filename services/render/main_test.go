package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/render/app"
)

// The binary's wiring: a resource whose check fails turns its gRPC health
// NOT_SERVING and shows in /status; fixing the data brings it back.
func TestHealthAndStatusFollowTheResource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte(`mode={{getv "/app/mode" "ok"}}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "render.yaml"), []byte(`
wait: {min: 10ms, max: 100ms}
templates:
  - name: app
    src: t.tmpl
    dest: out.conf
    keys: [/app/]
    check_cmd: "! grep -q mode=bad {{.src}}"
`), 0o644)

	var c config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.bind(fs)
	if err := fs.Parse([]string{"--auth=none", "--grpc-addr=127.0.0.1:0", "--admin-addr=127.0.0.1:0", "--shutdown-timeout=2s",
		"--config=" + filepath.Join(dir, "render.yaml"), "--etcd-endpoints=" + strings.Join(e.Endpoints(), ",")}); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(name, c.Flags, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	if err := c.setup(rctx, s); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	defer func() { stop(); <-done }()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	waitHealth := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "hindsight.render.app"})
			if err == nil && resp.Status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of hindsight.render.app: %v %v, want %s", resp, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealth(healthpb.HealthCheckResponse_SERVING)
	if b, _ := os.ReadFile(filepath.Join(dir, "out.conf")); string(b) != "mode=ok\n" {
		t.Fatalf("out.conf = %q", b)
	}
	e.Client().Put(context.Background(), "/app/mode", "bad")
	waitHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := http.Get("http://" + s.AdminAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st []map[string]any
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if len(st) != 1 || st[0]["ok"] != false || st[0]["stage"] != "check" {
		t.Fatalf("/status = %v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.conf")); string(b) != "mode=ok\n" {
		t.Fatalf("out.conf replaced by a rejected candidate: %q", b)
	}
	e.Client().Put(context.Background(), "/app/mode", "fast")
	waitHealth(healthpb.HealthCheckResponse_SERVING)
	if b, _ := os.ReadFile(filepath.Join(dir, "out.conf")); string(b) != "mode=fast\n" {
		t.Fatalf("out.conf = %q", b)
	}
}

// TestAppFlags: the render binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	if d := flagenv.Diff(new(config).bind, new(app.Flags).Bind); d != "" {
		t.Fatal(d)
	}
}
