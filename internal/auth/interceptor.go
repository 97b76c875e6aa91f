package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Anonymous is every caller's principal when authentication is off.
var Anonymous = Principal{Name: "anonymous", Role: Admin}

// Authenticator checks the bearer token of every call against the tokens
// file and the role table.
type Authenticator struct {
	off bool

	mu     sync.RWMutex
	tokens Tokens
}

// New authenticates with tokens.
func New(tokens Tokens) *Authenticator {
	t := Tokens{}
	for k, v := range tokens {
		t[k] = v
	}
	return &Authenticator{tokens: t}
}

// Off lets every call through as Anonymous: the operator turned auth off
// (--auth=none).
func Off() *Authenticator { return &Authenticator{off: true} }

// Enabled is false when authentication is off.
func (a *Authenticator) Enabled() bool { return !a.off }

// Internal mints a token for a principal of this process (the all-in-one's
// parts calling each other), known only in memory.
func (a *Authenticator) Internal(name string, role Role) string {
	tok := NewToken()
	if !a.off {
		a.mu.Lock()
		a.tokens[Digest(tok)] = Principal{Name: name, Role: role}
		a.mu.Unlock()
	}
	return tok
}

// Check finds the principal of a token.
func (a *Authenticator) Check(token string) (Principal, bool) {
	if a.off {
		return Anonymous, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tokens.Lookup(token)
}

// Bearer extracts the token of an "Authorization: Bearer <token>" value.
func Bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authorize decides one call: its principal, or an Unauthenticated /
// PermissionDenied status saying what is missing.
func (a *Authenticator) authorize(ctx context.Context, method string) (Principal, error) {
	need, listed := Required(method)
	if need == open {
		return Anonymous, nil
	}
	if a.off {
		return Anonymous, nil
	}
	var hdr string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			hdr = v[0]
		}
	}
	token, ok := Bearer(hdr)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, `missing credentials: send "authorization: Bearer <token>"`)
	}
	p, ok := a.Check(token)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	if !listed {
		return Principal{}, status.Errorf(codes.PermissionDenied, "%s is not in the role table; nobody may call it", method)
	}
	if !p.Can(need) {
		return Principal{}, status.Errorf(codes.PermissionDenied, "%s needs role %s; %s is %s", method, need, p.Name, p.Role)
	}
	return p, nil
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext is the caller authenticated by the interceptors, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// UnaryInterceptor authenticates and authorizes unary calls.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(NewContext(ctx, p), req)
	}
}

// StreamInterceptor authenticates and authorizes streams.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		p, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &stream{ss, NewContext(ss.Context(), p)})
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// HTTP lets through requests with a valid bearer token of at least role r
// (or any request when auth is off); others get 401 or 403.
func (a *Authenticator) HTTP(r Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if a.off {
			next.ServeHTTP(w, req)
			return
		}
		token, ok := Bearer(req.Header.Get("Authorization"))
		p, valid := a.Check(token)
		switch {
		case !ok || !valid:
			w.Header().Set("WWW-Authenticate", `Bearer realm="hindsight"`)
			http.Error(w, "missing or invalid bearer token", http.StatusUnauthorized)
		case !p.Can(r):
			http.Error(w, fmt.Sprintf("needs role %s; %s is %s", r, p.Name, p.Role), http.StatusForbidden)
		default:
			next.ServeHTTP(w, req.WithContext(NewContext(req.Context(), p)))
		}
	})
}
