// Package servertest runs a service binary's own wiring (its server.Binary:
// flags, setup, server) inside a test, on free loopback ports, and checks
// what every binary's flags must hold.
package servertest

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
)

// base come before a test's own arguments (which override them): free
// loopback ports, no tokens, a short drain.
var base = []string{"--auth=none", "--grpc-addr=127.0.0.1:0", "--admin-addr=127.0.0.1:0", "--shutdown-timeout=5s"}

// stopWithin bounds how long a stopped binary may take to return from Run.
const stopWithin = 30 * time.Second

// Running is a binary started by Start.
type Running struct {
	Server *server.Server
	// Conn is an unauthenticated client of the binary's gRPC port.
	Conn *grpc.ClientConn
	stop func() error
}

// Stop cancels the binary and returns Run's error; later calls return the
// same. The test's cleanup stops it too.
func (r *Running) Stop() error { return r.stop() }

// Start parses args as the binary would (after base), runs its Prepare and
// Setup and then Run in the background, as server.Main does.
func Start(t testing.TB, b server.Binary, args ...string) *Running {
	t.Helper()
	s := build(t, b, args)
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Setup(ctx, s); err != nil {
		cancel()
		s.Abort()
		t.Fatalf("setup: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			// Conn stays open while the server drains: a test may see
			// how its open streams end.
			defer conn.Close()
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(stopWithin):
				t.Errorf("%s did not stop within %v", b.Name, stopWithin)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s Run: %v", b.Name, err)
		}
	})
	return &Running{Server: s, Conn: conn, stop: stop}
}

// SetupError is the error b's Setup returns for args (nil if it starts);
// the server is released without running.
func SetupError(t testing.TB, b server.Binary, args ...string) error {
	t.Helper()
	s := build(t, b, args)
	err := b.Setup(context.Background(), s)
	s.Abort()
	return err
}

func build(t testing.TB, b server.Binary, args []string) *server.Server {
	t.Helper()
	fs := flag.NewFlagSet(b.Name, flag.ContinueOnError)
	b.Bind(fs)
	if err := fs.Parse(append(append([]string{}, base...), args...)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if b.Flags.Prepare != nil {
		if err := b.Flags.Prepare(b.Flags, log); err != nil {
			t.Fatal(err)
		}
	}
	s, err := server.New(b.Name, *b.Flags, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Defaults fails t for each flag of want that bind does not register with
// that default.
func Defaults(t testing.TB, bind func(*flag.FlagSet), want map[string]string) {
	t.Helper()
	fs := flag.NewFlagSet("binary", flag.ContinueOnError)
	bind(fs)
	for name, def := range want {
		f := fs.Lookup(name)
		switch {
		case f == nil:
			t.Errorf("--%s missing", name)
		case f.DefValue != def:
			t.Errorf("--%s default %q, want %q", name, f.DefValue, def)
		}
	}
}

// AppFlags fails t unless the binary (bind) offers every flag of its app
// (appBind) with the app's default.
func AppFlags(t testing.TB, bind, appBind func(*flag.FlagSet)) {
	t.Helper()
	if d := flagenv.Diff(bind, appBind); d != "" {
		t.Fatal(d)
	}
}

// Serve runs a bare gRPC server (no authentication, no metrics: one API or
// a fake of one) on a free loopback port with what register adds, and
// returns an unauthenticated client of it; both end with the test.
func Serve(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// FreeAddr is a loopback address ("127.0.0.1:port") nothing listens on at
// the time of the call: for a listener the test starts later, or for a
// peer that must be unreachable.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}
