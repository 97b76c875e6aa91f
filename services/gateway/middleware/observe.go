package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/metricset"
)

// Metrics are the gateway's HTTP metrics. Labels are bounded: route is the
// matched route pattern (never the raw path), method one of the standard ones.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	authRejected   *prometheus.CounterVec
	rateLimited    prometheus.Counter
	limiterClients prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	s := metricset.New("gateway")
	m := &Metrics{
		requests: s.CounterVec("http_requests_total", "HTTP requests by method, route pattern and status code.", "method", "route", "code"),
		duration: s.HistogramVec("http_request_duration_seconds", "Time to serve an HTTP request (whole stream for streaming routes).",
			prometheus.DefBuckets, "method", "route"),
		inFlight:       s.Gauge("http_requests_in_flight", "HTTP requests being served, including open streams."),
		authRejected:   s.CounterVec("auth_rejections_total", "Requests refused by bearer-token auth, by reason (missing, invalid).", "reason"),
		rateLimited:    s.Counter("rate_limit_rejections_total", "Requests refused with 429 by the per-client rate limit."),
		limiterClients: s.Gauge("rate_limit_clients", "Clients currently tracked by the rate limiter."),
	}
	m.authRejected.WithLabelValues("missing")
	m.authRejected.WithLabelValues("invalid")
	return m, s.Register(reg)
}

type routeKey struct{}

// routeHolder is filled in by handlers further down the chain (the router
// and Auth), so Observe can label and log what only they know.
type routeHolder struct{ route, client string }

// SetRoute records the route pattern that matched the request, for metrics and
// logs. Routers inside Observe call it (the gateway does, with the grpc-gateway
// pattern or the http.ServeMux pattern); it is a no-op outside Observe.
func SetRoute(ctx context.Context, route string) {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok && route != "" {
		h.route = route
	}
}

func setClient(ctx context.Context, client string) {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		h.client = client
	}
}

// Route returns the route recorded by SetRoute so far ("" if none).
func Route(ctx context.Context) string {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		return h.route
	}
	return ""
}

// unmatchedRoute labels requests no router claimed, keeping labels bounded.
const unmatchedRoute = "unmatched"

// Observe counts, times and logs every request. The log line carries method,
// path, route, status, bytes, duration, request id and client address; 5xx
// are logged at warn, health probes at debug, the rest at info.
func Observe(log *slog.Logger, m *Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		holder := &routeHolder{}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, holder))
		rw := &recorder{ResponseWriter: w}
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			status := rw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := holder.route
			if route == "" {
				route = unmatchedRoute
			}
			method := methodLabel(r.Method)
			elapsed := time.Since(start)
			m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())

			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelWarn
			case r.URL.Path == "/healthz":
				level = slog.LevelDebug
			}
			log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", rw.bytes),
				slog.Duration("duration", elapsed),
				slog.String("request_id", r.Header.Get(RequestIDHeader)),
				slog.String("remote", r.RemoteAddr),
				slog.String("client", holder.client),
			)
		}()
		next.ServeHTTP(rw, r)
	})
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// recorder remembers the status and size of a response. It unwraps to the
// underlying writer so http.ResponseController (Flush for streams, deadlines)
// still reaches the connection.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets handlers that type-assert http.Flusher stream through the recorder.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
