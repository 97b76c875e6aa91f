package middleware

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	a, err := NewAuth(AuthConfig{
		Tokens: tokens,
		Public: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	}, m)
	if err != nil {
		t.Fatal(err)
	}
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
			if next.authz != "" {
				t.Errorf("Authorization %q still on the request after auth", next.authz)
			}
			if tc.path != "/healthz" && !strings.HasPrefix(next.clientID, "token:") {
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

func TestNewAuthRejectsBadTokens(t *testing.T) {
	for _, toks := range [][]string{nil, {""}, {"a b"}, {"ok", "tab\there"}} {
		if _, err := NewAuth(AuthConfig{Tokens: toks}, nil); err == nil {
			t.Errorf("NewAuth(%q): want an error", toks)
		}
	}
}

func TestLoadTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# ops team\nfile-one\n\n  file-two  \nlist-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTokens(" list-a , list-b,,", file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"list-a", "list-b", "file-one", "file-two"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	if got, err := LoadTokens("", ""); err != nil || len(got) != 0 {
		t.Fatalf("no tokens: %q, %v", got, err)
	}
	if _, err := LoadTokens("", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file: want an error")
	}
}
