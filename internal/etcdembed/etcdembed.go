// Package etcdembed runs a single-member etcd inside the process: for unit tests
// (each test gets its own server on a free loopback port, so tests can run in
// parallel) and for the all-in-one binary, which opens no port for it
// (Config.Private).
//
//	e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: t.TempDir()})
//	if err != nil { ... }
//	defer e.Close()
//	cli := e.Client() // ready to use; e.Endpoints() for other clients
//
// etcd's client API has no authentication of its own here, so anything that
// can connect to it can rewrite members and settings: a TCP port, even on
// loopback, is for tests. A single member exchanges nothing with peers, so no
// peer port is opened at all.
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
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"

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
	// Private opens no TCP port: Client calls the server in-process, and
	// other processes reach it only through Socket, if set. ClientAddr must
	// be empty.
	Private bool
	// Socket (with Private) also serves the client API on this unix socket,
	// for etcdctl or a renderer on the same host. Its directory is created
	// (or made) 0700, so that only this user can connect.
	Socket string
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
	if c.Private && c.ClientAddr != "" {
		return nil, errors.New("etcdembed: ClientAddr with Private: a private server has no TCP port")
	}
	if c.Socket != "" && !c.Private {
		return nil, errors.New("etcdembed: Socket is only for a Private server")
	}
	if c.ClientAddr == "" && !c.Private {
		c.ClientAddr = "127.0.0.1:0"
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	curl, err := clientURL(c)
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
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = nil, nil
	if curl != nil {
		cfg.ListenClientUrls = []url.URL{*curl}
		cfg.AdvertiseClientUrls = []url.URL{*curl}
	}
	// The member needs a peer URL to be named in the cluster, but nothing
	// listens there: port 0 cannot be dialled.
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: "127.0.0.1:0"}}
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
	if c.Socket != "" {
		out.endpoints = []string{"unix://" + c.Socket}
		// Created with the umask's mode: narrow it (the directory already
		// keeps others out).
		err = os.Chmod(c.Socket, 0o600)
	}
	for _, l := range e.Clients {
		if l.Addr().Network() == "tcp" {
			out.endpoints = append(out.endpoints, "http://"+l.Addr().String())
		}
	}
	if err == nil {
		out.client, err = out.connect(c.Private, zl)
	}
	if err != nil {
		out.logLevel.Set(muted)
		e.Close()
		removeTemp()
		return nil, fmt.Errorf("etcdembed: client: %w", err)
	}
	return out, nil
}

// connect returns the process' own client: in-process for a private server
// (no socket involved), else through the TCP listener, as other clients.
func (e *Etcd) connect(private bool, zl *zap.Logger) (*clientv3.Client, error) {
	if private {
		return v3client.New(e.etcd.Server), nil
	}
	return clientv3.New(clientv3.Config{Endpoints: e.endpoints, DialTimeout: 5 * time.Second, Logger: zl})
}

// Client is a client connected to the server; Close closes it.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// Endpoints are the client URLs with the real ports ("http://127.0.0.1:PORT"),
// or the socket's ("unix:///path") of a private server, if it has one.
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

// clientURL is where the client API listens: ClientAddr's TCP port, the
// private server's socket, or nothing.
func clientURL(c Config) (*url.URL, error) {
	if c.Private {
		if c.Socket == "" {
			return nil, nil
		}
		if !filepath.IsAbs(c.Socket) {
			return nil, fmt.Errorf("etcdembed: Socket %q: must be an absolute path", c.Socket)
		}
		dir := filepath.Dir(c.Socket)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("etcdembed: Socket: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("etcdembed: Socket: %w", err)
		}
		return &url.URL{Scheme: "unix", Path: c.Socket}, nil
	}
	host, port, err := net.SplitHostPort(c.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: ClientAddr %q: %w", c.ClientAddr, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("etcdembed: ClientAddr %q: host must be an IP address", c.ClientAddr)
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
