package middleware

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimitConfig configures the per-client rate limit.
type RateLimitConfig struct {
	// Rate is the sustained requests per second allowed per client; <= 0 disables.
	Rate float64
	// Burst is the bucket size (default: Rate rounded up, at least 1).
	Burst int
	// MaxClients bounds the tracked clients (default 10000); past it the least
	// recently seen client is forgotten (it starts again with a full bucket).
	MaxClients int
	// IdleTimeout forgets a client not seen for this long (default 10m, and
	// never less than the time an empty bucket takes to refill, so forgetting
	// a client never grants it more than it would have had anyway).
	IdleTimeout time.Duration
	// TrustForwardedFor keys anonymous clients by the last X-Forwarded-For
	// address (what the nearest proxy saw) instead of the peer address. Only
	// enable it behind a proxy that sets the header; otherwise clients choose
	// their own key.
	TrustForwardedFor bool
	// Public marks requests that are not limited (Wrap fills it from Config.Public).
	Public func(*http.Request) bool

	now func() time.Time // for tests
}

// Limiter is a set of token buckets (golang.org/x/time/rate), one per client:
// the authenticated token when Auth ran before it, else the client IP. The set
// is bounded (LRU) and idle buckets are evicted as new requests arrive, so
// memory stays flat under a scan of spoofed or rotating addresses. A request
// over the limit gets 429 with Retry-After (whole seconds until a token is
// available) and is not forwarded.
type Limiter struct {
	cfg RateLimitConfig
	m   *Metrics

	mu      sync.Mutex
	clients map[string]*list.Element // of *bucket
	lru     *list.List               // front: most recently seen
}

type bucket struct {
	key      string
	lim      *rate.Limiter
	lastSeen time.Time
}

// NewLimiter returns a limiter for cfg (cfg.Rate must be > 0). m may be nil.
func NewLimiter(cfg RateLimitConfig, m *Metrics) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(math.Ceil(cfg.Rate)))
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10000
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if refill := time.Duration(float64(cfg.Burst) / cfg.Rate * float64(time.Second)); cfg.IdleTimeout < refill {
		cfg.IdleTimeout = refill
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.Public == nil {
		cfg.Public = func(*http.Request) bool { return false }
	}
	if m == nil {
		m, _ = NewMetrics(nil)
	}
	return &Limiter{cfg: cfg, m: m, clients: map[string]*list.Element{}, lru: list.New()}
}

// Middleware returns next behind the limit.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.cfg.Public(r) {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := l.allow(l.key(r)); !ok {
			l.m.rateLimited.Inc()
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
			writeError(w, http.StatusTooManyRequests, 8, "rate limit exceeded")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Clients is the number of clients currently tracked.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

func (l *Limiter) key(r *http.Request) string {
	if id := ClientID(r.Context()); id != "" {
		return id
	}
	if l.cfg.TrustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); ip != "" {
				return "ip:" + ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// allow takes one token from key's bucket, or says how long until one is free.
func (l *Limiter) allow(key string) (bool, time.Duration) {
	now := l.cfg.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget idle clients from the cold end; amortised O(1) per request.
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if b := e.Value.(*bucket); now.Sub(b.lastSeen) < l.cfg.IdleTimeout {
			break
		}
		l.remove(e)
	}
	var b *bucket
	if e, ok := l.clients[key]; ok {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
	} else {
		for l.lru.Len() >= l.cfg.MaxClients {
			l.remove(l.lru.Back())
		}
		b = &bucket{key: key, lim: rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)}
		l.clients[key] = l.lru.PushFront(b)
	}
	b.lastSeen = now
	l.m.limiterClients.Set(float64(l.lru.Len()))
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.clients, e.Value.(*bucket).key)
	l.lru.Remove(e)
}
