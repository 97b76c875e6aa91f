// Package server is the runtime every Hindsight service shares: one gRPC server
// with health, reflection and Prometheus metrics; an admin HTTP listener with
// /metrics, /healthz and /readyz; authentication of every call (internal/auth:
// bearer tokens, on unless --auth=none); structured logs; and a graceful
// shutdown on SIGTERM that stops accepting work, drains in-flight calls and
// then exits.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/logging"
)

// EnvPrefix prefixes the environment variables that stand in for flags.
const EnvPrefix = "HINDSIGHT"

// Flags are the settings every service has.
type Flags struct {
	GRPCAddr        string
	AdminAddr       string
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	Auth            auth.Flags
	// Prepare, when set, runs in Main after the flags are parsed and before
	// anything listens: a binary settles flags that depend on others there
	// (the all-in-one picks its tokens file from its addresses).
	Prepare func(f *Flags, log *slog.Logger) error
}

// Bind registers the common flags on fs with the service's default addresses.
func (f *Flags) Bind(fs *flag.FlagSet, grpcAddr, adminAddr string) {
	fs.StringVar(&f.GRPCAddr, "grpc-addr", grpcAddr, "gRPC listen address")
	fs.StringVar(&f.AdminAddr, "admin-addr", adminAddr, "admin HTTP listen address (/metrics, /healthz, /readyz); empty disables")
	fs.StringVar(&f.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&f.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "time to drain in-flight calls on SIGTERM")
	f.Auth.Bind(fs)
}

// Server is one service process.
type Server struct {
	Name     string
	Log      *slog.Logger
	GRPC     *grpc.Server
	Health   *health.Server
	Registry *prometheus.Registry
	// Admin is the admin HTTP mux; services may add their own endpoints.
	// Everything on it but /healthz and /readyz needs a reader's token,
	// unless the admin listener is bound to loopback only.
	Admin *http.ServeMux
	// Auth checks every gRPC call (and the admin endpoints).
	Auth *auth.Authenticator
	// ClientToken is the bearer token this process sends to the services it
	// calls (--auth-token-file; "" sends none). See Credentials.
	ClientToken string

	flags    Flags
	metrics  *grpcprom.ServerMetrics
	grpcLis  net.Listener
	adminLis net.Listener
	closers  []func()
	jobs     []func(context.Context) error
}

// New creates the server and opens its listeners (so a bad address fails
// before anything starts, and ":0" addresses are known once New returns).
func New(name string, f Flags, log *slog.Logger, opts ...grpc.ServerOption) (*Server, error) {
	authn, err := f.Auth.Authenticator()
	if err != nil {
		return nil, err
	}
	if !authn.Enabled() {
		log.Warn("authentication is off (--auth=none): anyone who reaches a port may call every API")
	}
	clientToken, err := f.Auth.ClientToken()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)
	opts = append([]grpc.ServerOption{
		// Metrics first, so refused calls are counted (as Unauthenticated
		// or PermissionDenied).
		grpc.ChainUnaryInterceptor(metrics.UnaryServerInterceptor(), authn.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(metrics.StreamServerInterceptor(), authn.StreamInterceptor()),
		// Clients ping idle connections to notice a server that vanished
		// (the agent every 10 s); gRPC's default policy (one ping per 5
		// minutes) would answer those with GOAWAY too_many_pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}, opts...)

	s := &Server{
		Name:        name,
		Log:         log,
		GRPC:        grpc.NewServer(opts...),
		Health:      health.NewServer(),
		Registry:    reg,
		Admin:       http.NewServeMux(),
		Auth:        authn,
		ClientToken: clientToken,
		flags:       f,
		metrics:     metrics,
	}
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	s.Admin.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.Admin.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.Admin.HandleFunc("/readyz", s.ready)

	if s.grpcLis, err = net.Listen("tcp", f.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc-addr: %w", err)
	}
	if f.AdminAddr != "" {
		if s.adminLis, err = net.Listen("tcp", f.AdminAddr); err != nil {
			s.grpcLis.Close()
			return nil, fmt.Errorf("admin-addr: %w", err)
		}
	}
	return s, nil
}

// LogOr is log, or the server's logger when log is nil: an app's Deps.Log
// (the all-in-one gives each app its own).
func (s *Server) LogOr(log *slog.Logger) *slog.Logger {
	if log == nil {
		return s.Log
	}
	return log
}

// Credentials is the dial option that sends ClientToken on every call.
func (s *Server) Credentials() grpc.DialOption { return auth.WithToken(s.ClientToken) }

// adminHandler guards the admin mux: health and readiness stay open (probes
// carry no credentials); the rest (metrics, service status) needs a reader's
// token unless only this host can reach the listener.
func (s *Server) adminHandler() http.Handler {
	if IsLoopback(s.AdminAddr()) {
		return s.Admin
	}
	guarded := s.Auth.HTTP(auth.Reader, s.Admin)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			s.Admin.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether a listen address (host:port) accepts
// connections from this host only: 127.0.0.0/8, ::1 or localhost. An empty
// host (":9090") listens everywhere.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GRPCAddr is the address the gRPC listener is bound to.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// AdminAddr is the address of the admin listener ("" when disabled).
func (s *Server) AdminAddr() string {
	if s.adminLis == nil {
		return ""
	}
	return s.adminLis.Addr().String()
}

// Go registers a long-running job (another listener, a consumer loop) started
// by Run with a context cancelled at shutdown. A job returning an error before
// shutdown stops the whole server, as a failing gRPC listener would; Run waits
// for every job to return (within ShutdownTimeout) before running OnClose hooks.
func (s *Server) Go(job func(ctx context.Context) error) { s.jobs = append(s.jobs, job) }

// OnClose registers cleanup run after the servers have stopped, last first.
func (s *Server) OnClose(f func()) { s.closers = append(s.closers, f) }

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (s *Server) runClosers() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// ready answers 200 when the overall gRPC health is SERVING.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	resp, err := s.Health.Check(r.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Run serves until ctx is cancelled, then shuts down gracefully: health turns
// NOT_SERVING (so load balancers stop sending), in-flight calls get
// ShutdownTimeout to finish, then everything is closed.
func (s *Server) Run(ctx context.Context) error {
	// Pre-create the per-method series now that every service is registered.
	s.metrics.InitializeMetrics(s.GRPC)
	errc := make(chan error, 2+len(s.jobs))
	go func() { errc <- s.GRPC.Serve(s.grpcLis) }()
	jobCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	var jobs sync.WaitGroup
	for _, job := range s.jobs {
		jobs.Add(1)
		go func() {
			defer jobs.Done()
			if err := job(jobCtx); err != nil && jobCtx.Err() == nil {
				errc <- err
			}
		}()
	}
	var admin *http.Server
	if s.adminLis != nil {
		admin = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := admin.Serve(s.adminLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	s.Log.Info("serving", "grpc", s.GRPCAddr(), "admin", s.AdminAddr())

	var runErr error
	select {
	case <-ctx.Done():
		s.Log.Info("shutting down", "timeout", s.flags.ShutdownTimeout)
	case runErr = <-errc:
		s.Log.Error("server failed", "err", runErr)
	}
	s.Health.Shutdown()
	stopJobs()
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.flags.ShutdownTimeout):
		s.Log.Warn("drain timed out; closing remaining calls")
		s.GRPC.Stop()
	}
	if !waitTimeout(&jobs, s.flags.ShutdownTimeout) {
		s.Log.Warn("background jobs did not stop in time")
	}
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = admin.Shutdown(sctx)
		cancel()
	}
	s.runClosers()
	s.Log.Info("stopped")
	return runErr
}

// Binary is one service binary as its main package declares it: its name,
// the common flags (inside what Bind registers), Bind registering every flag
// of the binary, and Setup building the binary's dependencies and starting
// its apps on the server.
type Binary struct {
	Name  string
	Flags *Flags
	Bind  func(fs *flag.FlagSet)
	Setup func(ctx context.Context, s *Server) error
}

// Binary declares a one-app binary on f: bind registers the binary's own
// flags after the common ones, which default to grpcAddr and adminAddr.
func (f *Flags) Binary(name, grpcAddr, adminAddr string, bind func(*flag.FlagSet), setup func(context.Context, *Server) error) Binary {
	return Binary{Name: name, Flags: f, Setup: setup, Bind: func(fs *flag.FlagSet) {
		f.Bind(fs, grpcAddr, adminAddr)
		bind(fs)
	}}
}

// Main is the whole life of a service binary: bind and parse its flags (with
// env overrides), build the logger and server, let Setup register the
// service's APIs, and run until SIGTERM or SIGINT. It exits the process with
// status 2 on bad flags and 1 on failure.
//
// The overall health ("") is SERVING from the start, as the health server
// makes it; a binary that becomes ready only later (the router, once its
// catalog loads) sets it NOT_SERVING in Setup and SERVING when ready.
func Main(b Binary) {
	fs := flag.NewFlagSet(b.Name, flag.ExitOnError)
	b.Bind(fs)
	f := b.Flags
	flagenv.Usage(fs, EnvPrefix)
	if err := flagenv.Parse(fs, EnvPrefix, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", b.Name, err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, b.Name, f.LogFormat, f.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", b.Name, err)
		os.Exit(2)
	}
	slog.SetDefault(log)
	if f.Prepare != nil {
		if err := f.Prepare(f, log); err != nil {
			log.Error("exiting", "err", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, b.Name, f, log, b.Setup); err != nil {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name string, f *Flags, log *slog.Logger, setup func(context.Context, *Server) error) error {
	s, err := New(name, *f, log)
	if err != nil {
		return err
	}
	if err := setup(ctx, s); err != nil {
		s.Abort()
		return err
	}
	return s.Run(ctx)
}

// Abort releases a server that will not Run (its setup failed): the
// listeners close and the OnClose hooks run.
func (s *Server) Abort() {
	s.GRPC.Stop()
	s.grpcLis.Close()
	if s.adminLis != nil {
		s.adminLis.Close()
	}
	s.runClosers()
}
