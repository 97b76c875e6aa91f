package middleware

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

// AuthConfig configures bearer-token authentication.
type AuthConfig struct {
	// Authenticator checks tokens: the same tokens file and code as every
	// gRPC port (internal/auth). Nil, or one that is off, lets every request
	// through.
	Authenticator *auth.Authenticator
	// Realm is announced in WWW-Authenticate (default "hindsight").
	Realm string
	// Public marks requests that need no token (Wrap fills it from Config.Public).
	Public func(*http.Request) bool
}

// Auth checks "Authorization: Bearer <token>" with internal/auth before a
// request costs a backend call. A request without a valid token gets 401 with
// "WWW-Authenticate: Bearer" (RFC 6750). A valid one keeps its Authorization
// header: the gateway forwards the caller's own credential, and the backend
// decides what that principal may do (403 for a role too low). The request is
// tagged with the principal's name as its client (see ClientID).
type Auth struct {
	a      *auth.Authenticator
	realm  string
	public func(*http.Request) bool
	m      *Metrics
}

// NewAuth returns the authenticator. m may be nil.
func NewAuth(cfg AuthConfig, m *Metrics) *Auth {
	if m == nil {
		m, _ = NewMetrics(nil)
	}
	a := &Auth{a: cfg.Authenticator, realm: cfg.Realm, public: cfg.Public, m: m}
	if a.realm == "" {
		a.realm = "hindsight"
	}
	if a.public == nil {
		a.public = func(*http.Request) bool { return false }
	}
	return a
}

// Middleware returns next behind the token check.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.public(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := auth.Bearer(r.Header.Get("Authorization"))
		if !ok {
			a.m.authRejected.WithLabelValues("missing").Inc()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", a.realm))
			writeError(w, http.StatusUnauthorized, 16, "missing bearer token: send \"Authorization: Bearer <token>\"")
			return
		}
		p, valid := a.a.Check(token)
		if !valid {
			a.m.authRejected.WithLabelValues("invalid").Inc()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", a.realm))
			writeError(w, http.StatusUnauthorized, 16, "invalid bearer token")
			return
		}
		id := "principal:" + p.Name
		setClient(r.Context(), id)
		ctx := context.WithValue(auth.NewContext(r.Context(), p), clientIDKey{}, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type clientIDKey struct{}

// ClientID is the authenticated client of the request ("principal:" and its
// name), or "" when Auth did not run.
func ClientID(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}

// writeError answers in the shape of grpc-gateway's errors ({"code", "message",
// "details"}), so clients parse one error format for everything under /v1.
func writeError(w http.ResponseWriter, status, grpcCode int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"code\":%d,\"message\":%q,\"details\":[]}\n", grpcCode, msg)
}
