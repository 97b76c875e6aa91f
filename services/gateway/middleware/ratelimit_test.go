package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newLimiter(t *testing.T, cfg RateLimitConfig) (*Limiter, *clock, *Metrics) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg.now = c.now
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewLimiter(cfg, m), c, m
}

// hit sends one request from ip (and, when set, an authenticated client id).
func hit(l *Limiter, ip, clientID, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = ip + ":51234"
	if clientID != "" {
		req = req.WithContext(context.WithValue(req.Context(), clientIDKey{}, clientID))
	}
	rec := httptest.NewRecorder()
	l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})).ServeHTTP(rec, req)
	return rec
}

func TestRateLimitBurstThenRefill(t *testing.T) {
	l, c, m := newLimiter(t, RateLimitConfig{Rate: 2, Burst: 3})
	for i := 0; i < 3; i++ {
		if rec := hit(l, "10.0.0.1", "", "/v1/members"); rec.Code != 200 {
			t.Fatalf("request %d within burst: %d", i, rec.Code)
		}
	}
	rec := hit(l, "10.0.0.1", "", "/v1/members")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("over burst: %d", rec.Code)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (a token every 0.5s)", ra)
	}
	if got := testutil.ToFloat64(m.rateLimited); got != 1 {
		t.Errorf("rate_limit_rejections_total = %v", got)
	}
	// A refused request does not use up a token: after 0.5s exactly one is back.
	c.advance(500 * time.Millisecond)
	if rec := hit(l, "10.0.0.1", "", "/v1/members"); rec.Code != 200 {
		t.Fatalf("after refill: %d", rec.Code)
	}
	if rec := hit(l, "10.0.0.1", "", "/v1/members"); rec.Code != 429 {
		t.Fatalf("second after one refill: %d", rec.Code)
	}
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	l, _, _ := newLimiter(t, RateLimitConfig{Rate: 0.2, Burst: 1}) // a token every 5s
	hit(l, "10.0.0.1", "", "/")
	rec := hit(l, "10.0.0.1", "", "/")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("%d Retry-After %q, want 429 and 5", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestRateLimitPerClient(t *testing.T) {
	l, _, _ := newLimiter(t, RateLimitConfig{Rate: 1, Burst: 1})
	if hit(l, "10.0.0.1", "", "/").Code != 200 || hit(l, "10.0.0.1", "", "/").Code != 429 {
		t.Fatal("first IP not limited")
	}
	if hit(l, "10.0.0.2", "", "/").Code != 200 {
		t.Fatal("second IP shares the first one's bucket")
	}
	// Behind one address, authenticated clients have a bucket per token.
	if hit(l, "10.0.0.1", "token:aaaa", "/").Code != 200 || hit(l, "10.0.0.1", "token:bbbb", "/").Code != 200 {
		t.Fatal("tokens share the IP's bucket")
	}
	if hit(l, "10.0.0.3", "token:aaaa", "/").Code != 429 {
		t.Fatal("a token's bucket follows it across addresses")
	}
}

func TestRateLimitPublicPathsExempt(t *testing.T) {
	l, _, _ := newLimiter(t, RateLimitConfig{Rate: 1, Burst: 1,
		Public: func(r *http.Request) bool { return r.URL.Path == "/healthz" }})
	hit(l, "10.0.0.1", "", "/v1/members")
	for i := 0; i < 5; i++ {
		if rec := hit(l, "10.0.0.1", "", "/healthz"); rec.Code != 200 {
			t.Fatalf("healthz limited: %d", rec.Code)
		}
	}
}

func TestRateLimitForwardedFor(t *testing.T) {
	for _, trust := range []bool{false, true} {
		l, _, _ := newLimiter(t, RateLimitConfig{Rate: 1, Burst: 1, TrustForwardedFor: trust})
		codes := []int{}
		for _, xff := range []string{"1.1.1.1", "spoofed, 2.2.2.2"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "192.168.0.1:4000"
			req.Header.Set("X-Forwarded-For", xff)
			rec := httptest.NewRecorder()
			l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
			codes = append(codes, rec.Code)
		}
		want := []int{200, 429} // one proxy address, one bucket
		if trust {
			want = []int{200, 200} // keyed by what the proxy saw
		}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Errorf("trust=%v: codes %v, want %v", trust, codes, want)
		}
	}
}

func TestRateLimitBoundedClients(t *testing.T) {
	l, c, m := newLimiter(t, RateLimitConfig{Rate: 1, Burst: 1, MaxClients: 3, IdleTimeout: time.Minute})
	for i := 0; i < 10; i++ {
		hit(l, fmt.Sprintf("10.0.0.%d", i), "", "/")
		c.advance(time.Millisecond)
	}
	if n := l.Clients(); n != 3 {
		t.Fatalf("tracking %d clients, want at most 3", n)
	}
	if got := testutil.ToFloat64(m.limiterClients); got != 3 {
		t.Errorf("rate_limit_clients = %v", got)
	}
	// The most recent client is still remembered (and limited)...
	if hit(l, "10.0.0.9", "", "/").Code != 429 {
		t.Error("most recent client forgotten")
	}
	// ...the oldest was evicted and starts afresh.
	if hit(l, "10.0.0.0", "", "/").Code != 200 {
		t.Error("least recently seen client not evicted")
	}

	// Idle clients are dropped once IdleTimeout has passed.
	c.advance(2 * time.Minute)
	hit(l, "10.9.9.9", "", "/")
	if n := l.Clients(); n != 1 {
		t.Fatalf("after idling: %d clients tracked, want 1", n)
	}
}

func TestRateLimitIdleTimeoutCoversRefill(t *testing.T) {
	// Burst 10 at 0.1/s takes 100s to refill; forgetting the client after 1s
	// would hand it a full bucket early.
	l, c, _ := newLimiter(t, RateLimitConfig{Rate: 0.1, Burst: 10, IdleTimeout: time.Second})
	for i := 0; i < 10; i++ {
		hit(l, "10.0.0.1", "", "/")
	}
	c.advance(5 * time.Second)
	if rec := hit(l, "10.0.0.1", "", "/"); rec.Code != 429 {
		t.Fatalf("drained client got %d after a short idle", rec.Code)
	}
}
