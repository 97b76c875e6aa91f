// Package etcdembed runs a single-member etcd inside the process: for unit tests
// (each test gets its own server on free loopback ports, so tests can run in
// parallel) and for the all-in-one binary.
//
//	e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: t.TempDir()})
//	if err != nil { ... }
//	defer e.Close()
//	cli := e.Client() // ready to use; e.Endpoints() for other clients
//
// The server is tuned so that etcd's minimum lease TTL is 1s (a 100ms heartbeat
// with the default 1s election timeout would round a 1s lease up to 2s).
package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/zapslog"
)

// Config says where the embedded etcd keeps its data and listens. The zero
// value is valid: a temporary data dir and free loopback ports.
type Config struct {
	// Dir is the data directory. Empty means a new temporary directory that
	// Close removes. Reusing a directory keeps the data across restarts.
	Dir string
	// ClientAddr is the host:port of the client (gRPC) listener; the host must
	// be an IP address. Empty means "127.0.0.1:0": a free port, see Endpoints.
	ClientAddr string
	// PeerAddr is the host:port of the peer listener (unused by a single
	// member, but etcd needs one). Empty means "127.0.0.1:0".
	PeerAddr string
	// Name is the member name (default "hindsight").
	Name string
	// Logger receives etcd's own log entries at LogLevel and above. Nil drops them.
	Logger *slog.Logger
	// LogLevel is the lowest etcd log level forwarded: "debug", "info", "warn"
	// or "error" (the default, so etcd stays quiet).
	LogLevel string
	// ReadyTimeout bounds the wait for the server to be ready (default 30s).
	ReadyTimeout time.Duration
}

// Etcd is a running embedded etcd with a connected client.
type Etcd struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string
	tempDir   string
	// logLevel is the forwarding threshold; Close mutes it, because etcd
	// reports its own listeners closing as errors.
	logLevel  slog.LevelVar
	closeOnce sync.Once
	closeErr  error
}

// Start starts the server and waits until it is ready to serve (or ctx ends,
// or Config.ReadyTimeout passes), then connects a client to it.
func Start(ctx context.Context, c Config) (*Etcd, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcdembed: %w", err)
	}
	if c.Name == "" {
		c.Name = "hindsight"
	}
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:0"
	}
	if c.PeerAddr == "" {
		c.PeerAddr = "127.0.0.1:0"
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	curl, err := httpURL("ClientAddr", c.ClientAddr)
	if err != nil {
		return nil, err
	}
	purl, err := httpURL("PeerAddr", c.PeerAddr)
	if err != nil {
		return nil, err
	}

	out := &Etcd{}
	if c.Dir == "" {
		if out.tempDir, err = os.MkdirTemp("", "etcdembed-"); err != nil {
			return nil, fmt.Errorf("etcdembed: %w", err)
		}
		c.Dir = out.tempDir
	}
	removeTemp := func() {
		if out.tempDir != "" {
			os.RemoveAll(out.tempDir)
		}
	}

	out.logLevel.Set(level)
	zl := zapslog.New(c.Logger, "etcd", &out.logLevel)
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cfg.ListenClientUrls = []url.URL{*curl}
	cfg.AdvertiseClientUrls = []url.URL{*curl}
	cfg.ListenPeerUrls = []url.URL{*purl}
	cfg.AdvertisePeerUrls = []url.URL{*purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	// etcd's minimum lease TTL is ceil(1.5 * election timeout); keep it at 1s.
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	// The gRPC-JSON gateway would dial the configured address, which is wrong
	// for port 0; nothing here needs it.
	cfg.EnableGRPCGateway = false
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	cfg.Logger = "zap"
	cfg.LogLevel = zapLevelName(level)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		removeTemp()
		return nil, fmt.Errorf("etcdembed: start: %w", err)
	}
	out.etcd = e
	timer := time.NewTimer(c.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err = <-e.Err():
		err = fmt.Errorf("etcdembed: server failed: %w", err)
	case <-timer.C:
		err = fmt.Errorf("etcdembed: not ready after %v", c.ReadyTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("etcdembed: %w", ctx.Err())
	}
	if err != nil {
		out.logLevel.Set(muted)
		e.Close()
		removeTemp()
		return nil, err
	}
	for _, l := range e.Clients {
		out.endpoints = append(out.endpoints, "http://"+l.Addr().String())
	}
	out.client, err = clientv3.New(clientv3.Config{
		Endpoints:   out.endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zl,
	})
	if err != nil {
		e.Close()
		removeTemp()
		return nil, fmt.Errorf("etcdembed: client: %w", err)
	}
	return out, nil
}

// Client is a client connected to the server; Close closes it.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// Endpoints are the client URLs ("http://127.0.0.1:PORT") with the real ports.
func (e *Etcd) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close closes the client, stops the server and removes a temporary data
// dir. It is safe to call more than once.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.logLevel.Set(muted)
		var errs []error
		if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
		e.etcd.Close()
		<-e.etcd.Server.StopNotify()
		if e.tempDir != "" {
			errs = append(errs, os.RemoveAll(e.tempDir))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

func httpURL(field, addr string) (*url.URL, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: %s %q: %w", field, addr, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("etcdembed: %s %q: host must be an IP address", field, addr)
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}, nil
}

// muted is above every level etcd logs at.
const muted = slog.Level(100)

func zapLevelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	default:
		return "error"
	}
}

func parseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelError, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("etcdembed: LogLevel %q: want debug, info, warn or error", s)
	}
	return l, nil
}
