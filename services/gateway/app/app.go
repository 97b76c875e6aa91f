// Package app is the REST gateway as one unit: its flags, with the defaults
// the gateway owns (rate limits included), and Start, which serves
// the four APIs over REST/JSON, the OpenAPI document and the web pages on
// --http-addr. The gateway binary points it at the services' gRPC
// addresses; the all-in-one at its own gRPC port.
package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
	"github.com/hindsight-dev/hindsight/services/gateway/middleware"
	"github.com/hindsight-dev/hindsight/web/page"
	"github.com/hindsight-dev/hindsight/web/timemachine"
	topologyweb "github.com/hindsight-dev/hindsight/web/topology"
	volumeweb "github.com/hindsight-dev/hindsight/web/volume"
)

// Flags are the gateway's settings.
type Flags struct {
	HTTPAddr          string
	CallTimeout       time.Duration
	RateLimit         float64
	RateBurst         int
	TrustForwardedFor bool
}

// Bind registers the flags on fs with the gateway's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.HTTPAddr, "http-addr", ":8080", "REST/JSON listen address")
	fs.DurationVar(&f.CallTimeout, "call-timeout", 0, "deadline for unary backend calls without one (0: 30s default, negative: none)")
	fs.Float64Var(&f.RateLimit, "rate-limit", 0, "requests per second per client (token, else IP); 0 disables")
	fs.IntVar(&f.RateBurst, "rate-burst", 0, "rate limit burst (0: the rate rounded up)")
	fs.BoolVar(&f.TrustForwardedFor, "trust-forwarded-for", false, "rate-limit anonymous clients by X-Forwarded-For (only behind a proxy that sets it)")
}

// Deps are the gRPC addresses of the APIs the gateway serves ("": not
// served).
type Deps struct {
	Membership, Routing, Replay, Topology string
	// DrainTimeout bounds finishing the requests in flight at shutdown.
	DrainTimeout time.Duration
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start listens on --http-addr and serves there as one of s's jobs: HTTP
// lives and drains with the server (SIGTERM ends open streams and drains
// HTTP while the server drains gRPC; a failing listener stops the process).
func Start(ctx context.Context, s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	gw, err := api.New(ctx, api.Config{
		MembershipEndpoint: d.Membership,
		RoutingEndpoint:    d.Routing,
		ReplayEndpoint:     d.Replay,
		TopologyEndpoint:   d.Topology,
		CallTimeout:        f.CallTimeout,
		Log:                log,
	})
	if err != nil {
		return err
	}
	s.OnClose(func() { _ = gw.Close() })
	if err := MountPages(gw); err != nil {
		return err
	}
	h, err := middleware.Wrap(gw, middleware.Config{
		Log:        log,
		Registerer: s.Registry,
		// The server's authenticator: the tokens of --auth-tokens-file, as
		// on every gRPC port.
		Auth:      middleware.AuthConfig{Authenticator: s.Auth},
		RateLimit: middleware.RateLimitConfig{Rate: f.RateLimit, Burst: f.RateBurst, TrustForwardedFor: f.TrustForwardedFor},
		Public:    api.PublicPaths,
		// The web pages are static files that ask for a token themselves
		// (the API calls they make carry it); only /v1/ needs one.
		PublicFunc: func(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, "/v1/") },
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", f.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr: %w", err)
	}
	log.Info("rest gateway", "http", lis.Addr().String(), "auth", s.Auth.Enabled(), "rate_limit", f.RateLimit,
		"membership", d.Membership, "routing", d.Routing, "replay", d.Replay, "topology", d.Topology)
	s.Go(func(jobCtx context.Context) error { return api.Serve(jobCtx, lis, h, d.DrainTimeout) })
	return nil
}

// MountPages serves the web pages on gw: the time machine (/replays/,
// /search), the topology (/topology/), the volume watch (/volume) and the
// files they share (/page/static/).
func MountPages(gw *api.Gateway) error {
	if err := topologyweb.Mount(gw, "/topology/"); err != nil {
		return err
	}
	if err := page.MountShared(gw); err != nil {
		return err
	}
	if err := timemachine.Mount(gw); err != nil {
		return err
	}
	return volumeweb.Mount(gw)
}
