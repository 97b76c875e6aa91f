package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	"github.com/hindsight-dev/hindsight/services/render/app"
)

// The binary's wiring: a resource whose check fails turns its gRPC health
// NOT_SERVING and shows in /status; fixing the data brings it back.
func TestHealthAndStatusFollowTheResource(t *testing.T) {
	e := etcdtest.Start(t)
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
	r := servertest.Start(t, c.binary(), "--shutdown-timeout=2s",
		"--config="+filepath.Join(dir, "render.yaml"), "--etcd-endpoints="+strings.Join(e.Endpoints(), ","))
	hc := healthpb.NewHealthClient(r.Conn)
	waitHealth := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		polltest.Until(t, "health of hindsight.render.app "+want.String(), 5*time.Second, func() (bool, string) {
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "hindsight.render.app"})
			return err == nil && resp.Status == want, fmt.Sprint(resp, err)
		})
	}
	waitHealth(healthpb.HealthCheckResponse_SERVING)
	if b, _ := os.ReadFile(filepath.Join(dir, "out.conf")); string(b) != "mode=ok\n" {
		t.Fatalf("out.conf = %q", b)
	}
	e.Client().Put(context.Background(), "/app/mode", "bad")
	waitHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := http.Get("http://" + r.Server.AdminAddr() + "/status")
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
	servertest.AppFlags(t, new(config).binary().Bind, new(app.Flags).Bind)
}
