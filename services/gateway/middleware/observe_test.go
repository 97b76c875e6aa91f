package middleware

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

func TestObserveLabelsRoutesAndLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := Observe(log, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/services/") {
			SetRoute(r.Context(), "/v1/services/{service}/members")
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("short and stout"))
			return
		}
		http.NotFound(w, r)
	}))
	for _, p := range []string{"/v1/services/web/members", "/v1/services/db/members", "/random/1", "/random/2"} {
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set(RequestIDHeader, "rid-1")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", "/v1/services/{service}/members", "418")); got != 2 {
		t.Errorf("templated route count = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", "unmatched", "404")); got != 2 {
		t.Errorf("unmatched count = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.requests); n != 2 {
		t.Errorf("%d series: raw paths leak into labels", n)
	}
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("in flight %v after all requests ended", got)
	}

	var first map[string]any
	if err := json.Unmarshal(bytes.SplitN(logs.Bytes(), []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"msg": "http request", "method": "GET", "path": "/v1/services/web/members",
		"route": "/v1/services/{service}/members", "status": 418.0, "bytes": 15.0, "request_id": "rid-1",
	} {
		if first[k] != want {
			t.Errorf("log %s = %v, want %v (line %v)", k, first[k], want, first)
		}
	}
}

func TestObserveKeepsFlushing(t *testing.T) {
	m, _ := NewMetrics(nil)
	rec := httptest.NewRecorder()
	Observe(slog.New(slog.DiscardHandler), m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("chunk\n"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the recorder: %v", err)
		}
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Error("underlying writer not flushed: streams would stall")
	}
}

func TestRequestID(t *testing.T) {
	var seen string
	h := RequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.Header.Get(RequestIDHeader) }))
	for _, tc := range []struct{ in, want string }{
		{"abc-123", "abc-123"},
		{"", ""},                       // generated
		{"has space", ""},              // replaced
		{strings.Repeat("x", 129), ""}, // too long, replaced
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.in != "" {
			req.Header.Set(RequestIDHeader, tc.in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(RequestIDHeader)
		if got != seen {
			t.Errorf("response id %q, handler saw %q", got, seen)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("in %q: id %q, want it kept", tc.in, got)
		}
		if tc.want == "" && (len(got) != 32 || got == tc.in) {
			t.Errorf("in %q: id %q, want a fresh 32-hex id", tc.in, got)
		}
	}
}

func TestWrapOffByDefault(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), Config{
		Log: slog.New(slog.DiscardHandler), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/members", nil))
		if rec.Code != 200 {
			t.Fatalf("request %d: %d with auth and limits off", i, rec.Code)
		}
	}
	// Registering the same metrics twice is an error, not a panic.
	if _, err := Wrap(http.NotFoundHandler(), Config{Registerer: reg}); err == nil {
		t.Error("second Wrap on one registry: want an error")
	}
}

func TestWrapOrder(t *testing.T) {
	// Auth runs before the limiter, so the limiter keys by token; a rejected
	// token does not consume the caller's rate.
	h, err := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), Config{
		Log: slog.New(slog.DiscardHandler),
		Auth: AuthConfig{Authenticator: auth.New(auth.Tokens{
			auth.Digest("t1"): {Name: "one", Role: auth.Reader},
			auth.Digest("t2"): {Name: "two", Role: auth.Reader},
		})},
		RateLimit: RateLimitConfig{Rate: 0.001, Burst: 1},
		Public:    []string{"/healthz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(token, path string) int {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := 0; i < 3; i++ {
		if c := send("bad", "/v1/x"); c != 401 {
			t.Fatalf("bad token: %d", c)
		}
	}
	got := []int{send("t1", "/v1/x"), send("t1", "/v1/x"), send("t2", "/v1/x"), send("", "/healthz"), send("", "/healthz")}
	want := []int{200, 429, 200, 200, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
}
