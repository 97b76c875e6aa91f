package middleware

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// AuthConfig configures bearer-token authentication.
type AuthConfig struct {
	// Tokens are the accepted bearer tokens; empty disables authentication.
	Tokens []string
	// Realm is announced in WWW-Authenticate (default "hindsight").
	Realm string
	// Public marks requests that need no token (Wrap fills it from Config.Public).
	Public func(*http.Request) bool
}

// Auth checks "Authorization: Bearer <token>" against a fixed set of tokens.
// Tokens are compared as SHA-256 digests with crypto/subtle against every
// configured token, so neither the position of a mismatch nor the token length
// shows in the timing. A request without a valid token gets 401 with
// "WWW-Authenticate: Bearer" (RFC 6750). On success the Authorization header is
// removed, so the token is never forwarded to the backends, and the request is
// tagged with a client id derived from the token (see ClientID).
type Auth struct {
	digests [][sha256.Size]byte
	realm   string
	public  func(*http.Request) bool
	m       *Metrics
}

// NewAuth validates the tokens and returns the authenticator. m may be nil.
func NewAuth(cfg AuthConfig, m *Metrics) (*Auth, error) {
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("auth: no tokens")
	}
	if m == nil {
		m, _ = NewMetrics(nil)
	}
	a := &Auth{realm: cfg.Realm, public: cfg.Public, m: m}
	if a.realm == "" {
		a.realm = "hindsight"
	}
	if a.public == nil {
		a.public = func(*http.Request) bool { return false }
	}
	for i, t := range cfg.Tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n") {
			return nil, fmt.Errorf("auth: token %d is empty or contains white space", i+1)
		}
		a.digests = append(a.digests, sha256.Sum256([]byte(t)))
	}
	return a, nil
}

// Middleware returns next behind the token check.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.public(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			a.m.authRejected.WithLabelValues("missing").Inc()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", a.realm))
			writeError(w, http.StatusUnauthorized, 16, "missing bearer token")
			return
		}
		d := sha256.Sum256([]byte(token))
		found := 0
		for i := range a.digests {
			found |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
		}
		if found != 1 {
			a.m.authRejected.WithLabelValues("invalid").Inc()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", a.realm))
			writeError(w, http.StatusUnauthorized, 16, "invalid bearer token")
			return
		}
		r.Header.Del("Authorization")
		id := "token:" + hex.EncodeToString(d[:6])
		setClient(r.Context(), id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIDKey{}, id)))
	})
}

type clientIDKey struct{}

// ClientID is the authenticated client of the request ("token:" and a short
// digest of its token, never the token itself), or "" when Auth did not run.
func ClientID(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// LoadTokens gathers tokens from a comma-separated list and from a file with
// one token per line (blank lines and lines starting with '#' are skipped).
// Either may be empty; duplicates are dropped.
func LoadTokens(list, file string) ([]string, error) {
	var tokens []string
	seen := map[string]bool{}
	add := func(t string) {
		if t = strings.TrimSpace(t); t != "" && !seen[t] {
			seen[t] = true
			tokens = append(tokens, t)
		}
	}
	for _, t := range strings.Split(list, ",") {
		add(t)
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("auth tokens file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			add(line)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("auth tokens file %s: %w", file, err)
		}
	}
	return tokens, nil
}

// writeError answers in the shape of grpc-gateway's errors ({"code", "message",
// "details"}), so clients parse one error format for everything under /v1.
func writeError(w http.ResponseWriter, status, grpcCode int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"code\":%d,\"message\":%q,\"details\":[]}\n", grpcCode, msg)
}
