// Command gateway serves Hindsight's REST/JSON API (all four gRPC APIs through
// grpc-gateway), the OpenAPI document, /healthz, the live topology page
// (/topology/) and the time machine's replays and search page (/replays/,
// /search) on --http-addr, with
// optional bearer-token auth and per-client rate limits. Its own gRPC port
// carries only health and reflection; /metrics is on the admin port.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
	"github.com/hindsight-dev/hindsight/services/gateway/middleware"
	"github.com/hindsight-dev/hindsight/web/timemachine"
	topologyweb "github.com/hindsight-dev/hindsight/web/topology"
)

func main() {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	var f server.Flags
	f.Bind(fs, ":9401", ":9402")
	var (
		httpAddr   = fs.String("http-addr", ":8080", "REST/JSON listen address")
		membership = fs.String("membership-endpoint", "localhost:9301", "gRPC address of the membership service (empty: not served)")
		routing    = fs.String("routing-endpoint", "localhost:9101", "gRPC address of the routing service (empty: not served)")
		replay     = fs.String("replay-endpoint", "localhost:9201", "gRPC address of the replay service (empty: not served)")
		topology   = fs.String("topology-endpoint", "localhost:9501", "gRPC address of the topology service (empty: not served)")
		callTO     = fs.Duration("call-timeout", 0, "deadline for unary backend calls without one (0: 30s default, negative: none)")
		tokens     = fs.String("auth-tokens", "", "comma-separated bearer tokens; any set (here or in --auth-tokens-file) turns auth on")
		tokensFile = fs.String("auth-tokens-file", "", "file of bearer tokens, one per line ('#' comments)")
		rateLimit  = fs.Float64("rate-limit", 0, "requests per second per client (token, else IP); 0 disables")
		rateBurst  = fs.Int("rate-burst", 0, "rate limit burst (0: the rate rounded up)")
		trustXFF   = fs.Bool("trust-forwarded-for", false, "rate-limit anonymous clients by X-Forwarded-For (only behind a proxy that sets it)")
	)

	server.Main("gateway", fs, &f, func(ctx context.Context, s *server.Server) error {
		authTokens, err := middleware.LoadTokens(*tokens, *tokensFile)
		if err != nil {
			return err
		}
		gw, err := api.New(ctx, api.Config{
			MembershipEndpoint: *membership,
			RoutingEndpoint:    *routing,
			ReplayEndpoint:     *replay,
			TopologyEndpoint:   *topology,
			CallTimeout:        *callTO,
			Log:                s.Log,
		})
		if err != nil {
			return err
		}
		s.OnClose(func() { _ = gw.Close() })
		if err := topologyweb.Mount(gw, "/topology/"); err != nil {
			return err
		}
		if err := timemachine.Mount(gw); err != nil {
			return err
		}
		h, err := middleware.Wrap(gw, middleware.Config{
			Log:        s.Log,
			Registerer: s.Registry,
			Auth:       middleware.AuthConfig{Tokens: authTokens},
			RateLimit:  middleware.RateLimitConfig{Rate: *rateLimit, Burst: *rateBurst, TrustForwardedFor: *trustXFF},
			Public:     api.PublicPaths,
		})
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("http-addr: %w", err)
		}
		s.Log.Info("rest gateway", "http", lis.Addr().String(), "auth", len(authTokens) > 0, "rate_limit", *rateLimit,
			"membership", *membership, "routing", *routing, "replay", *replay, "topology", *topology)

		// HTTP lives and drains with the server: SIGTERM cancels the job's
		// context, which ends open streams and drains HTTP while server.Run
		// drains gRPC; a failing HTTP listener stops the whole process.
		s.Go(func(jobCtx context.Context) error {
			return api.Serve(jobCtx, lis, h, f.ShutdownTimeout)
		})
		return nil
	})
}
