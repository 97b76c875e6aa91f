package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func start(t *testing.T) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	f := Flags{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second}
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
	_, err := New("test", Flags{GRPCAddr: "256.0.0.1:1"}, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "grpc-addr") {
		t.Fatalf("want grpc-addr error, got %v", err)
	}
}

func TestFailingJobStopsServer(t *testing.T) {
	f := Flags{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}
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
