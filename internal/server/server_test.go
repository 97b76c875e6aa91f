package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

func start(t *testing.T) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	f := Flags{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second, Auth: auth.Flags{Mode: "none"}}
	s, err := New("test", f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return s, cancel, done
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthMetricsAndGracefulStop(t *testing.T) {
	s, cancel, done := start(t)
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	if code, _ := get(t, "http://"+s.AdminAddr()+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d", code)
	}
	_, body := get(t, "http://"+s.AdminAddr()+"/metrics")
	if !strings.Contains(body, `grpc_server_handled_total{grpc_code="OK",grpc_method="Check"`) {
		t.Fatalf("metrics miss the health check call:\n%.2000s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false)); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

func TestBadAddressFailsEarly(t *testing.T) {
	_, err := New("test", Flags{GRPCAddr: "256.0.0.1:1", Auth: auth.Flags{Mode: "none"}}, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "grpc-addr") {
		t.Fatalf("want grpc-addr error, got %v", err)
	}
}

func TestFailingJobStopsServer(t *testing.T) {
	f := Flags{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: time.Second, Auth: auth.Flags{Mode: "none"}}
	s, err := New("test", f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	s.Go(func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil })
	s.Go(func(context.Context) error { return io.ErrUnexpectedEOF })
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("Run = %v, want the job's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failing job did not stop the server")
	}
	select {
	case <-stopped:
	default:
		t.Fatal("other jobs were not cancelled before Run returned")
	}
}

// TestAuthOnByDefault: with no tokens file a service does not start; with
// one, health is open, everything else needs a valid token, and /metrics on
// a non-loopback admin listener needs one too.
func TestAuthOnByDefault(t *testing.T) {
	if _, err := New("test", Flags{GRPCAddr: "127.0.0.1:0"}, slog.Default()); !errors.Is(err, auth.ErrNoTokens) {
		t.Fatalf("no tokens file: err %v, want ErrNoTokens", err)
	}
	dir := t.TempDir()
	tok := auth.NewToken()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(auth.Line(tok, "ops", auth.Reader)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := Flags{GRPCAddr: "127.0.0.1:0", AdminAddr: "0.0.0.0:0", ShutdownTimeout: time.Second,
		Auth: auth.Flags{TokensFile: tokens}}
	s, err := New("test", f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()

	anon, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := healthpb.NewHealthClient(anon).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	// Reflection lists the API: it needs a token.
	if _, err := reflectionClient(ctx, anon); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reflection without a token: %v, want Unauthenticated", err)
	}
	authed, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), auth.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer authed.Close()
	if _, err := reflectionClient(ctx, authed); err != nil {
		t.Fatalf("reflection with a reader token: %v", err)
	}

	_, port, _ := net.SplitHostPort(s.AdminAddr())
	admin := "http://127.0.0.1:" + port
	if code, _ := get(t, admin+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz = %d, want 200 without a token", code)
	}
	if code, _ := get(t, admin+"/metrics"); code != http.StatusUnauthorized {
		t.Fatalf("metrics without a token = %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics with a token = %d", resp.StatusCode)
	}
}

// reflectionClient makes one reflection request and returns its error.
func reflectionClient(ctx context.Context, cc *grpc.ClientConn) (any, error) {
	st, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server has already refused answers Send with io.EOF; its
	// status comes from Recv.
	if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return st.Recv()
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "[::1]:80": true, "localhost:8080": true, "127.3.2.1:1": true,
		":9090": false, "0.0.0.0:9090": false, "[::]:1": false, "10.0.0.1:80": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func TestLogOr(t *testing.T) {
	s, _, _ := start(t)
	own := slog.New(slog.DiscardHandler)
	if s.LogOr(own) != own || s.LogOr(nil) != s.Log {
		t.Fatal("LogOr: want the given logger, else the server's")
	}
}
