// Package middleware is the gateway's net/http middleware: request ids,
// Prometheus metrics and slog request logs (Observe), optional bearer-token
// authentication (Auth) and an optional per-client rate limit (Limiter).
//
// Wrap assembles them in the order a request meets them:
//
//	RequestID → Observe (metrics, log) → Auth → RateLimit → handler
//
// Authentication is on when Config.Auth has an Authenticator that is on (the
// service's, from --auth and --auth-tokens-file); rate limiting when its rate
// is above 0. Paths listed in Config.Public (health, OpenAPI) skip both, so probes and
// API browsers keep working when a token is required.
package middleware

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the whole middleware stack.
type Config struct {
	// Log receives one line per request; nil uses slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics; nil registers nowhere (metrics still
	// count, they are just not exported).
	Registerer prometheus.Registerer
	// Auth enables bearer-token authentication when Auth.Authenticator is on.
	Auth AuthConfig
	// RateLimit enables the per-client rate limit when RateLimit.Rate > 0.
	RateLimit RateLimitConfig
	// Public are exact request paths exempt from auth and rate limits.
	Public []string
	// PublicFunc, when set, marks further requests as public (e.g. static UI files).
	PublicFunc func(*http.Request) bool
}

// Wrap returns h behind the configured middleware stack.
func Wrap(h http.Handler, cfg Config) (http.Handler, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	m, err := NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	public := publicMatcher(cfg.Public, cfg.PublicFunc)
	if cfg.RateLimit.Rate > 0 {
		rl := cfg.RateLimit
		if rl.Public == nil {
			rl.Public = public
		}
		h = NewLimiter(rl, m).Middleware(h)
	}
	if cfg.Auth.Authenticator != nil && cfg.Auth.Authenticator.Enabled() {
		ac := cfg.Auth
		if ac.Public == nil {
			ac.Public = public
		}
		h = NewAuth(ac, m).Middleware(h)
	}
	h = Observe(log, m, h)
	return RequestID(h), nil
}

func publicMatcher(paths []string, f func(*http.Request) bool) func(*http.Request) bool {
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		set[p] = true
	}
	return func(r *http.Request) bool {
		return set[r.URL.Path] || (f != nil && f(r))
	}
}
