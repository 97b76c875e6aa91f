package middleware

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

// echo answers 200 and reports what reached it.
type echo struct {
	calls    int
	authz    string
	clientID string
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.calls++
	e.authz = r.Header.Get("Authorization")
	e.clientID = ClientID(r.Context())
	w.WriteHeader(http.StatusOK)
}

func newAuth(t *testing.T, tokens ...string) (*Auth, *Metrics) {
	t.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := auth.Tokens{}
	for i, tok := range tokens {
		ts[auth.Digest(tok)] = auth.Principal{Name: fmt.Sprintf("user%d", i), Role: auth.Reader}
	}
	a := NewAuth(AuthConfig{
		Authenticator: auth.New(ts),
		Public:        func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	}, m)
	return a, m
}

func TestAuth(t *testing.T) {
	a, m := newAuth(t, "alpha-token", "beta-token")
	tests := []struct {
		name, path, header string
		status             int
		challenge          string // WWW-Authenticate must contain this
	}{
		{"missing", "/v1/members", "", 401, `Bearer realm="hindsight"`},
		{"wrong scheme", "/v1/members", "Basic YWxwaGE6dG9rZW4=", 401, `Bearer realm="hindsight"`},
		{"empty bearer", "/v1/members", "Bearer ", 401, `Bearer`},
		{"wrong token", "/v1/members", "Bearer alpha-tokeN", 401, `error="invalid_token"`},
		{"prefix of a token", "/v1/members", "Bearer alpha", 401, `error="invalid_token"`},
		{"token plus suffix", "/v1/members", "Bearer alpha-token2", 401, `error="invalid_token"`},
		{"first token", "/v1/members", "Bearer alpha-token", 200, ""},
		{"second token, scheme case", "/v1/members", "bearer beta-token", 200, ""},
		{"public path", "/healthz", "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := &echo{}
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			a.Middleware(next).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 401 {
				if next.calls != 0 {
					t.Error("rejected request reached the handler")
				}
				if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, tc.challenge) {
					t.Errorf("WWW-Authenticate %q, want %q", ch, tc.challenge)
				}
				if !strings.Contains(rec.Body.String(), `"code":16`) {
					t.Errorf("body %s", rec.Body)
				}
				return
			}
			if next.calls != 1 {
				t.Fatal("handler not called")
			}
			// The caller's own credential goes on to the backend, which
			// checks the role.
			if next.authz != tc.header {
				t.Errorf("Authorization %q after auth, want the caller's %q", next.authz, tc.header)
			}
			if tc.path != "/healthz" && !strings.HasPrefix(next.clientID, "principal:user") {
				t.Errorf("client id %q", next.clientID)
			}
		})
	}
	if got := testutil.ToFloat64(m.authRejected.WithLabelValues("missing")); got != 3 {
		t.Errorf("auth_rejections_total{reason=missing} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.authRejected.WithLabelValues("invalid")); got != 3 {
		t.Errorf("auth_rejections_total{reason=invalid} = %v, want 3", got)
	}
}

func TestAuthClientIDsDifferPerToken(t *testing.T) {
	a, _ := newAuth(t, "alpha-token", "beta-token")
	ids := map[string]bool{}
	for _, tok := range []string{"alpha-token", "beta-token", "alpha-token"} {
		next := &echo{}
		req := httptest.NewRequest("GET", "/v1/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		a.Middleware(next).ServeHTTP(httptest.NewRecorder(), req)
		if strings.Contains(next.clientID, tok) {
			t.Fatalf("client id %q contains the token", next.clientID)
		}
		ids[next.clientID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("client ids %v: want one per token", ids)
	}
}
