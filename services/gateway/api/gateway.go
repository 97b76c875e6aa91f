// Package api is Hindsight's REST/JSON front door: one http.Handler that
// transcodes the four gRPC APIs (routing, replay, topology, membership) with
// grpc-gateway and serves the OpenAPI document and a health endpoint.
//
// # Use
//
//	gw, err := gateway.New(ctx, gateway.Config{
//		MembershipEndpoint: "localhost:9301",
//		RoutingEndpoint:    "localhost:9101",
//		ReplayEndpoint:     "localhost:9201",
//		TopologyEndpoint:   "localhost:9501",
//	})
//	defer gw.Close()
//	_ = gw.Handle("/", webUI)                  // optional: anything outside /v1/
//	h, _ := middleware.Wrap(gw, middleware.Config{Public: gateway.PublicPaths, ...})
//	err = gateway.Serve(ctx, lis, h, 10*time.Second)
//
// The all-in-one binary points every endpoint at its own gRPC address (or an
// in-process listener through Config.DialOptions) and mounts the web UI with
// Handle.
//
// # Routes
//
//   - /v1/...: the REST mapping of every RPC, as declared by the google.api.http
//     annotations in proto/hindsight/*/v1 and described by the OpenAPI spec.
//   - GET /openapi.json and GET /v1/openapi.json: the merged OpenAPI v2 document.
//   - GET /healthz: 200 while the gateway runs. It does not probe the backends:
//     a backend that is down answers its own routes with 503.
//   - anything added with Handle.
//
// # Behaviour
//
// Connections to the backends are made lazily and never block: New returns at
// once even when no backend is up, and calls to a backend that is down fail
// fast with 503 (gRPC Unavailable); reconnection is retried with a short
// backoff (at most 3s), so a backend coming back is used within seconds.
//
// JSON is protojson with lowerCamel field names (the names in the OpenAPI
// spec) and enum names. Responses include fields holding default values
// (EmitDefaultValues: "port": 0, "members": [], "healthyOnly": false), so
// clients see every documented field without knowing proto3 defaults, while
// unset message fields are omitted rather than written as null. Requests are
// checked against the RPC's input before they are forwarded (request.go):
// JSON exactly as the OpenAPI document describes it (lowerCamel names only,
// 64-bit integers as strings, enums by name, no nulls, no unknown fields or
// query parameters) and the constraints the protos declare
// (internal/validate); a 400 names every field at fault by the JSON path the
// client wrote, in a google.rpc.BadRequest detail. A client stream
// (/v1/ingest:stream, /v1/flows) is checked whole, every message, before the
// first is sent: a stream with a bad message ingests nothing. A path no RPC
// is bound to is a 404, a method the path is not bound to a 405 with Allow.
//
// gRPC errors become HTTP statuses by grpc-gateway's mapping (InvalidArgument
// 400, Unauthenticated 401, PermissionDenied 403, NotFound 404, AlreadyExists
// 409, FailedPrecondition 409 (grpc-gateway says 400), ResourceExhausted 429, Unimplemented 501, Unavailable 503,
// DeadlineExceeded 504) with a body {"code", "message", "details"} carrying the
// backend's message. Server-streaming RPCs (Watch, WatchGraph) answer
// newline-delimited JSON (Content-Type application/x-ndjson), one
// {"result": ...} object per message, and {"error": ...} if the stream fails.
//
// Forwarded to the backends as gRPC metadata: x-request-id, traceparent,
// tracestate, the user agent (grpcgateway-user-agent), x-forwarded-for/-host,
// and the caller's own Authorization: each backend authenticates the caller
// and checks its role (internal/auth), and knows who asked from that
// credential alone. Never forwarded: Cookie and Grpc-Metadata-* headers, so
// that no client can name an identity (x-hindsight-user, ...) a backend
// might believe.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	// Registers google.rpc error details (BadRequest, ...) so the gateway can
	// render the details backends attach to errors instead of failing with 500.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/proto/openapi"
	"github.com/hindsight-dev/hindsight/services/gateway/middleware"
)

// PublicPaths are the gateway's routes that need no credentials and are not
// rate limited (give them to middleware.Config.Public).
var PublicPaths = []string{"/healthz", "/openapi.json", "/v1/openapi.json"}

// Config says where the APIs are served and how to reach them.
type Config struct {
	// gRPC addresses (host:port, or any grpc.NewClient target) of each API. They
	// may all be the same; equal addresses share one connection. An empty
	// address leaves that API out (its routes answer 404).
	MembershipEndpoint string
	RoutingEndpoint    string
	ReplayEndpoint     string
	TopologyEndpoint   string

	// DialOptions are appended to the defaults (plaintext transport, a short
	// reconnect backoff, the call timeout). Use them for TLS, or for an
	// in-process listener (grpc.WithContextDialer with a "passthrough:///"
	// target).
	DialOptions []grpc.DialOption

	// CallTimeout bounds unary calls that carry no deadline of their own (a
	// client can set one with the Grpc-Timeout header). Default 30s; negative
	// disables. Streams are not bounded.
	CallTimeout time.Duration

	// MaxBodyBytes bounds request bodies under /v1/ (default 16 MiB; negative
	// disables). A larger body is a 413.
	MaxBodyBytes int64

	// Log receives backend errors (5xx); nil uses slog.Default().
	Log *slog.Logger
}

// Gateway is the REST handler. It is an http.Handler; more handlers can be
// mounted next to the API with Handle.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	api     *runtime.ServeMux
	routes  routes          // the HTTP bindings of the served RPCs
	streams context.Context // done: server streams end (the gateway is draining)

	closeOnce sync.Once
	conns     map[string]*grpc.ClientConn
}

// New builds the gateway. It dials nothing yet (connections are lazy), so it
// succeeds whether or not the backends are up; it fails only on a malformed
// endpoint. ctx is the gateway's serving lifetime: once it is done, open
// server streams (Watch, WatchGraph) end with an error chunk (code Unavailable,
// "gateway shutting down") so that an HTTP server's graceful Shutdown is not
// held up by them; unary calls in flight still finish. Close releases the
// connections after the HTTP server has stopped.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	g := &Gateway{
		cfg:     cfg,
		log:     cfg.Log,
		mux:     http.NewServeMux(),
		streams: ctx,
		conns:   map[string]*grpc.ClientConn{},
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.api = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &ndjson{runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{
				UseProtoNames:     false,
				EmitDefaultValues: true,
			},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			// Label metrics and logs with the declared path template.
			if p, ok := runtime.HTTPPathPattern(ctx); ok {
				middleware.SetRoute(ctx, p)
			}
			return nil
		}),
		runtime.WithErrorHandler(g.errorHandler),
		runtime.WithForwardResponseOption(streamContentType),
	)

	apis := []struct {
		name, endpoint string
		service        string
		register       func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
	}{
		{"membership", cfg.MembershipEndpoint, membershipv1.MembershipService_ServiceDesc.ServiceName, membershipv1.RegisterMembershipServiceHandler},
		{"routing", cfg.RoutingEndpoint, routingv1.RoutingService_ServiceDesc.ServiceName, routingv1.RegisterRoutingServiceHandler},
		{"replay", cfg.ReplayEndpoint, replayv1.ReplayService_ServiceDesc.ServiceName, replayv1.RegisterReplayServiceHandler},
		{"topology", cfg.TopologyEndpoint, topologyv1.TopologyService_ServiceDesc.ServiceName, topologyv1.RegisterTopologyServiceHandler},
	}
	var services []protoreflect.FullName
	for _, a := range apis {
		if a.endpoint == "" {
			continue
		}
		services = append(services, protoreflect.FullName(a.service))
		conn, err := g.conn(a.endpoint)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("%s endpoint %q: %w", a.name, a.endpoint, err)
		}
		if err := a.register(ctx, g.api, conn); err != nil {
			g.Close()
			return nil, fmt.Errorf("%s: %w", a.name, err)
		}
	}

	var err error
	if g.routes, err = routesOf(services); err != nil {
		g.Close()
		return nil, err
	}
	g.mustHandle("/v1/", http.HandlerFunc(g.serveAPI))
	spec := http.HandlerFunc(serveSpec)
	g.mustHandle("GET /openapi.json", spec)
	g.mustHandle("GET /v1/openapi.json", spec)
	g.mustHandle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("{\"status\":\"ok\"}\n"))
	}))
	return g, nil
}

// serveAPI routes a /v1/ request: 404 for a path no RPC is bound to, 405
// with Allow for a method the path is not bound to, 413 for a body over
// MaxBodyBytes, 400 naming the fields for a request that does not fit the
// RPC's input (checkRequest); the rest goes to grpc-gateway.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	if g.cfg.MaxBodyBytes > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	}
	fail := func(err error) {
		_, m := runtime.MarshalerForRequest(g.api, r)
		g.errorHandler(r.Context(), g.api, m, w, r, err)
	}
	rt, vars, allow, ok := g.routes.find(r.Method, r.URL.Path)
	switch {
	case ok:
	case len(allow) > 0:
		w.Header().Set("Allow", strings.Join(allow, ", "))
		fail(&runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: status.Errorf(codes.Unimplemented,
			"method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	default:
		fail(&runtime.HTTPStatusError{HTTPStatus: http.StatusNotFound, Err: status.Errorf(codes.NotFound,
			"no API operation at %s", r.URL.Path)})
		return
	}
	middleware.SetRoute(r.Context(), rt.template)
	if err := g.checkRequest(rt, vars, r); err != nil {
		var tl errTooLarge
		switch {
		case errors.As(err, &tl):
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
				Err: status.Error(codes.ResourceExhausted, tl.Error())}
		case errors.Is(err, os.ErrDeadlineExceeded): // NewHTTPServer's BodyTimeout
			w.Header().Set("Connection", "close")
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestTimeout,
				Err: status.Errorf(codes.DeadlineExceeded, "request body not received within %v", BodyTimeout)}
		}
		fail(err)
		return
	}
	g.api.ServeHTTP(w, r)
}

// ServeHTTP serves the API, the spec, the health endpoint and mounted handlers.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Handle mounts h at pattern (net/http ServeMux syntax, e.g. "/" or "GET
// /ui/"), next to the API; the API keeps "/v1/". The pattern labels the
// requests in metrics. It returns an error when the pattern is malformed or
// conflicts with one already mounted.
func (g *Gateway) Handle(pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gateway: mount %q: %v", pattern, p)
		}
	}()
	g.mustHandle(pattern, h)
	return nil
}

func (g *Gateway) mustHandle(pattern string, h http.Handler) {
	g.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		middleware.SetRoute(r.Context(), pattern)
		h.ServeHTTP(w, r)
	}))
}

// Close closes the backend connections. Call it after the HTTP server has
// stopped; it is safe to call more than once.
func (g *Gateway) Close() error {
	var errs []error
	g.closeOnce.Do(func() {
		for _, c := range g.conns {
			errs = append(errs, c.Close())
		}
	})
	return errors.Join(errs...)
}

// conn returns the (lazy) connection to endpoint, shared by equal endpoints.
func (g *Gateway) conn(endpoint string) (*grpc.ClientConn, error) {
	if c, ok := g.conns[endpoint]; ok {
		return c, nil
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// grpc's default reconnect backoff grows to 2 minutes; a backend that
		// restarts should be reachable again within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithChainUnaryInterceptor(g.unaryTimeout),
		grpc.WithChainStreamInterceptor(g.drainStreams),
	}
	c, err := grpc.NewClient(endpoint, append(opts, g.cfg.DialOptions...)...)
	if err != nil {
		return nil, err
	}
	g.conns[endpoint] = c
	return c, nil
}

// unaryTimeout applies CallTimeout to unary calls without a deadline.
func (g *Gateway) unaryTimeout(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok && g.cfg.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.CallTimeout)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// errDraining ends streams when the gateway's context is done.
var errDraining = status.Error(codes.Unavailable, "gateway shutting down")

// drainStreams ties every stream to the gateway's lifetime as well as to its
// request, so shutting down ends long-lived streams instead of waiting on them.
func (g *Gateway) drainStreams(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if g.streams.Err() != nil {
		return nil, errDraining
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.streams, cancel)
	context.AfterFunc(ctx, func() { stop() }) // the request ended first: forget it
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &drainingStream{ClientStream: cs, gw: g.streams}, nil
}

type drainingStream struct {
	grpc.ClientStream
	gw context.Context
}

func (s *drainingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && s.gw.Err() != nil && status.Code(err) == codes.Canceled {
		return errDraining
	}
	return err
}

// errorHandler is grpc-gateway's default, with the field paths of a 400
// spelled as the REST client wrote them, plus a log line for server-side
// failures (the request log has the status; this has the reason).
func (g *Gateway) errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if rpc, ok := runtime.RPCMethod(ctx); ok {
		if rt, ok := g.routes.byMethod(rpc, r.Method); ok {
			if st, ok := status.FromError(err); ok {
				err = rt.clientErr(st).Err()
			}
		}
	}
	if status.Code(err) == codes.FailedPrecondition {
		// The resource's state forbids the change (a dataset the
		// configuration declares, one routes still use): 409 Conflict,
		// not grpc-gateway's 400, which would call the request malformed.
		err = &runtime.HTTPStatusError{HTTPStatus: http.StatusConflict, Err: err}
	}
	if s, ok := status.FromError(err); ok && runtime.HTTPStatusFromCode(s.Code()) >= 500 {
		method, _ := runtime.RPCMethod(ctx)
		g.log.Warn("backend call failed", "rpc", method, "code", s.Code().String(), "err", s.Message(),
			"request_id", r.Header.Get(middleware.RequestIDHeader))
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// incomingHeader decides which HTTP request headers become gRPC metadata.
func incomingHeader(key string) (string, bool) {
	switch k := textproto.CanonicalMIMEHeaderKey(key); k {
	case "X-Request-Id", "Traceparent", "Tracestate":
		return strings.ToLower(k), true
	case "User-Agent":
		return runtime.MetadataPrefix + "user-agent", true
	default:
		// grpc-gateway forwards Authorization itself. Everything else a
		// client sends, Grpc-Metadata-* included, stays here.
		return "", false
	}
}

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*") // API browsers on other origins
	_, _ = w.Write(openapi.Spec)
}

// ndjson is protojson with the streaming content type: server streams are
// newline-delimited JSON objects, or the lines of google.api.HttpBody
// messages (an export) in the content type the first one names.
type ndjson struct{ runtime.JSONPb }

// StreamContentType implements runtime.StreamContentType.
func (*ndjson) StreamContentType(v any) string {
	if b, ok := v.(*httpbody.HttpBody); ok && b.GetContentType() != "" {
		return b.GetContentType()
	}
	return "application/x-ndjson"
}

// streamContentType names a server stream's content type before its first
// message, which the gateway only sets from that message: a stream that
// ends without one (an export of no events) is still an empty NDJSON body,
// not a 200 without a Content-Type. The gateway calls forward-response
// options with a nil message only at a stream's start.
func streamContentType(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	if m == nil {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	return nil
}
