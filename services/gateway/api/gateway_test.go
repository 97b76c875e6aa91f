package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
	"github.com/hindsight-dev/hindsight/services/gateway/middleware"
)

// fakeMembership is a stub backend recording what reached it.
type fakeMembership struct {
	membershipv1.UnimplementedMembershipServiceServer

	mu        sync.Mutex
	registers []*membershipv1.RegisterRequest
	lists     []*membershipv1.ListMembersRequest
	md        []metadata.MD

	// watchBlock makes Watch send one event and then wait for cancellation.
	watchBlock  bool
	watchClosed chan struct{}
}

func (f *fakeMembership) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.md = append(f.md, md)
}

func (f *fakeMembership) lastMD() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.md[len(f.md)-1]
}

func (f *fakeMembership) Register(ctx context.Context, req *membershipv1.RegisterRequest) (*membershipv1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(ctx)
	f.registers = append(f.registers, req)
	if req.GetMember().GetService() == "" {
		return nil, status.Error(codes.InvalidArgument, "member.service: must not be empty")
	}
	m := proto.Clone(req.GetMember()).(*membershipv1.Member)
	m.Ttl = req.GetTtl()
	m.LeaseId = 7587
	m.RegisterTime = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return &membershipv1.RegisterResponse{Member: m}, nil
}

func (f *fakeMembership) KeepAlive(ctx context.Context, req *membershipv1.KeepAliveRequest) (*membershipv1.KeepAliveResponse, error) {
	return nil, status.Errorf(codes.NotFound, "member %s/%s not found", req.GetService(), req.GetId())
}

func (f *fakeMembership) ListMembers(ctx context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(ctx)
	f.lists = append(f.lists, req)
	if req.GetService() == "" {
		return &membershipv1.ListMembersResponse{}, nil
	}
	return &membershipv1.ListMembersResponse{
		Revision: 42,
		Members: []*membershipv1.Member{
			{Service: req.GetService(), Id: "a", Address: "10.0.0.1", Port: 80},
			{Service: req.GetService(), Id: "b", Address: "10.0.0.2", Port: 80, Health: membershipv1.Health_HEALTH_HEALTHY},
		},
	}, nil
}

func (f *fakeMembership) Watch(req *membershipv1.WatchRequest, stream grpc.ServerStreamingServer[membershipv1.WatchResponse]) error {
	send := func(t membershipv1.MemberEvent_Type, id string, rev int64) error {
		return stream.Send(&membershipv1.WatchResponse{Events: []*membershipv1.MemberEvent{{
			Type: t, Revision: rev, Member: &membershipv1.Member{Service: req.GetService(), Id: id},
		}}})
	}
	if err := send(membershipv1.MemberEvent_TYPE_JOIN, "a", 1); err != nil {
		return err
	}
	if f.watchBlock {
		<-stream.Context().Done()
		close(f.watchClosed)
		return stream.Context().Err()
	}
	return send(membershipv1.MemberEvent_TYPE_LEAVE, "a", 2)
}

// backend starts a real gRPC server on a loopback port serving only fake.
func backend(t *testing.T, fake *fakeMembership) string {
	return serve(t, func(s *grpc.Server) { membershipv1.RegisterMembershipServiceServer(s, fake) })
}

// serve starts a real gRPC server on a loopback port with what register
// puts on it, and returns its address.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

type env struct {
	fake   *fakeMembership
	gw     *api.Gateway
	url    string
	cancel context.CancelFunc
	reg    *prometheus.Registry
}

// start runs the gateway (behind the middleware stack) in front of a fake
// membership backend; the replay and topology endpoints point at the same
// server, which does not implement them; routing points at a dead address.
func start(t *testing.T, fake *fakeMembership, mw middleware.Config) *env {
	t.Helper()
	if fake == nil {
		fake = &fakeMembership{}
	}
	addr := backend(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := api.New(ctx, api.Config{
		MembershipEndpoint: addr,
		ReplayEndpoint:     addr,
		TopologyEndpoint:   addr,
		RoutingEndpoint:    servertest.FreeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	reg := prometheus.NewRegistry()
	mw.Registerer = reg
	mw.Public = api.PublicPaths
	h, err := middleware.Wrap(gw, mw)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{fake: fake, gw: gw, url: srv.URL, cancel: cancel, reg: reg}
}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

func TestRegisterReachesBackend(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	resp, b := do(t, "POST", e.url+"/v1/members", `{
		"member": {"service": "web", "id": "web-1", "address": "10.1.2.3", "port": 8080,
		           "labels": {"zone": "a"}, "healthCheck": {"tcp": {}, "interval": "3s"}},
		"ttl": "15s"}`,
		"Content-Type", "application/json", "X-Request-Id", "req-123", "Authorization", "Bearer secret",
		"Cookie", "session=1", "Grpc-Metadata-X-Hindsight-User", "mallory", "X-Forwarded-User", "mallory")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if len(e.fake.registers) != 1 {
		t.Fatalf("backend got %d registers", len(e.fake.registers))
	}
	got := e.fake.registers[0]
	m := got.GetMember()
	if m.GetService() != "web" || m.GetId() != "web-1" || m.GetAddress() != "10.1.2.3" || m.GetPort() != 8080 ||
		m.GetLabels()["zone"] != "a" || got.GetTtl().AsDuration() != 15*time.Second ||
		m.GetHealthCheck().GetTcp() == nil || m.GetHealthCheck().GetInterval().AsDuration() != 3*time.Second {
		t.Fatalf("backend got %v", got)
	}

	md := e.fake.lastMD()
	if v := md.Get("x-request-id"); len(v) != 1 || v[0] != "req-123" {
		t.Errorf("x-request-id metadata = %v", v)
	}
	// The caller's credential goes on (the backend authenticates it); no
	// header a client could name an identity with does.
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer secret" {
		t.Errorf("authorization at the backend = %v, want the caller's", v)
	}
	for _, k := range []string{"cookie", "grpcgateway-authorization", "grpcgateway-cookie", "x-hindsight-user", "x-forwarded-user"} {
		if v := md.Get(k); len(v) != 0 {
			t.Errorf("%s forwarded to backend: %v", k, v)
		}
	}
	if resp.Header.Get("X-Request-Id") != "req-123" {
		t.Errorf("response X-Request-Id = %q", resp.Header.Get("X-Request-Id"))
	}

	v := decode(t, b)
	member, _ := v["member"].(map[string]any)
	if member["leaseId"] != "7587" || member["ttl"] != "15s" || member["registerTime"] != "2026-01-02T03:04:05Z" {
		t.Errorf("response member = %v", member)
	}
	// Default values are emitted (enum zero by name), unset messages are not.
	if member["health"] != "HEALTH_UNSPECIFIED" {
		t.Errorf("health = %v, want HEALTH_UNSPECIFIED emitted", member["health"])
	}
	if _, ok := member["lease_id"]; ok {
		t.Errorf("proto field names in JSON: %v", member)
	}
}

func TestListByService(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	resp, b := do(t, "GET", e.url+"/v1/services/web/members?healthyOnly=true", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if got := e.fake.lists[0]; got.GetService() != "web" || !got.GetHealthyOnly() {
		t.Fatalf("backend got %v", got)
	}
	v := decode(t, b)
	members, _ := v["members"].([]any)
	if len(members) != 2 || v["revision"] != "42" {
		t.Fatalf("response %s", b)
	}
	if first := members[0].(map[string]any); first["id"] != "a" || first["port"] != 80.0 {
		t.Errorf("first member %v", first)
	}

	// All services, none registered: the empty list is still there.
	resp, b = do(t, "GET", e.url+"/v1/members", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if v := decode(t, b); v["members"] == nil || v["revision"] != "0" {
		t.Errorf("empty list response %s: want members [] and revision emitted", b)
	}

	// Route labels are the declared templates, not raw paths.
	if c := counter(t, e.reg, "GET", "/v1/services/{service}/members", "200"); c != 1 {
		t.Errorf("requests_total{route=/v1/services/{service}/members} = %v, want 1", c)
	}
}

// counter finds hindsight_gateway_http_requests_total with the given labels.
func counter(t *testing.T, reg *prometheus.Registry, method, route, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hindsight_gateway_http_requests_total" {
			continue
		}
		var routes []string
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			routes = append(routes, l["method"]+" "+l["route"]+" "+l["code"])
			if l["method"] == method && l["route"] == route && l["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no series %s %s %s among %v", method, route, code, routes)
	}
	t.Fatal("no hindsight_gateway_http_requests_total")
	return 0
}

func TestErrors(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	tests := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"invalid argument", "POST", "/v1/members", `{"member": {"id": "x"}, "ttl": "10s"}`, 400, "member.service"},
		{"unknown field", "POST", "/v1/members", `{"member": {"service": "web", "prot": 1}}`, 400, "prot"},
		{"not found", "POST", "/v1/services/web/members/nope:keepalive", `{}`, 404, "nope"},
		{"unimplemented", "GET", "/v1/replays", "", 501, "ReplayService"},
		{"backend down", "GET", "/v1/datasets", "", 503, ""},
		{"no route", "GET", "/v1/nothing-here", "", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, b := do(t, tc.method, e.url+tc.path, tc.body)
			t.Logf("%s %s -> %d %s", tc.method, tc.path, resp.StatusCode, b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			v := decode(t, b)
			msg, _ := v["message"].(string)
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not mention %q", msg, tc.message)
			}
			if _, ok := v["code"]; !ok {
				t.Errorf("no code in %s", b)
			}
		})
	}
}

func TestOpenAPIAndHealth(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	for _, p := range []string{"/openapi.json", "/v1/openapi.json"} {
		resp, b := do(t, "GET", e.url+p, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: status %d, type %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		v := decode(t, b)
		paths, _ := v["paths"].(map[string]any)
		if _, ok := paths["/v1/members"]; !ok || v["swagger"] != "2.0" {
			t.Fatalf("%s: no /v1/members in spec", p)
		}
	}
	resp, b := do(t, "GET", e.url+"/healthz", "")
	if resp.StatusCode != 200 || decode(t, b)["status"] != "ok" {
		t.Fatalf("healthz %d %s", resp.StatusCode, b)
	}
}

func TestWatchStreamsJSONLines(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	resp, b := do(t, "GET", e.url+"/v1/members:watch?service=web", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", b)
	}
	for i, want := range []string{"TYPE_JOIN", "TYPE_LEAVE"} {
		var chunk struct {
			Result struct {
				Events []struct {
					Type   string
					Member struct{ Service, ID string }
				}
			}
		}
		if err := json.Unmarshal([]byte(lines[i]), &chunk); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, lines[i])
		}
		ev := chunk.Result.Events
		if len(ev) != 1 || ev[0].Type != want || ev[0].Member.Service != "web" || ev[0].Member.ID != "a" {
			t.Errorf("line %d = %s", i, lines[i])
		}
	}
}

func TestStreamsEndWhenGatewayDrains(t *testing.T) {
	fake := &fakeMembership{watchBlock: true, watchClosed: make(chan struct{})}
	e := start(t, fake, middleware.Config{})
	resp, err := http.Get(e.url + "/v1/members:watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	first, err := rd.ReadString('\n')
	if err != nil || !strings.Contains(first, "TYPE_JOIN") {
		t.Fatalf("first line %q, %v", first, err)
	}

	e.cancel() // what SIGTERM does
	done := make(chan string)
	go func() { rest, _ := io.ReadAll(rd); done <- string(rest) }()
	select {
	case rest := <-done:
		var chunk struct{ Error struct{ Code int } }
		if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &chunk); err != nil || chunk.Error.Code != int(codes.Unavailable) {
			t.Errorf("last chunk %q: want an Unavailable error", rest)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after the gateway's context ended")
	}
	select {
	case <-fake.watchClosed:
	case <-time.After(5 * time.Second):
		t.Fatal("backend stream not cancelled")
	}
	// Unary calls still work while draining.
	if resp, b := do(t, "GET", e.url+"/v1/members", ""); resp.StatusCode != 200 {
		t.Fatalf("unary after drain: %d %s", resp.StatusCode, b)
	}
}

func TestMountExtraHandlers(t *testing.T) {
	e := start(t, nil, middleware.Config{})
	if err := e.gw.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "<html>ui</html>")
	})); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Handle("GET /healthz", http.NotFoundHandler()); err == nil {
		t.Error("mounting over /healthz: want an error")
	}
	if resp, b := do(t, "GET", e.url+"/index.html", ""); resp.StatusCode != 200 || string(b) != "<html>ui</html>" {
		t.Errorf("ui: %d %s", resp.StatusCode, b)
	}
	// The API keeps its prefix.
	if resp, _ := do(t, "GET", e.url+"/v1/members", ""); resp.StatusCode != 200 {
		t.Errorf("api behind ui: %d", resp.StatusCode)
	}
}

func TestAuthAndRateLimitInFront(t *testing.T) {
	e := start(t, nil, middleware.Config{
		Auth: middleware.AuthConfig{Authenticator: auth.New(auth.Tokens{
			auth.Digest("s3cret"): {Name: "alice", Role: auth.Reader},
			auth.Digest("other"):  {Name: "bob", Role: auth.Reader},
		})},
		RateLimit: middleware.RateLimitConfig{Rate: 0.001, Burst: 2},
	})
	resp, b := do(t, "GET", e.url+"/v1/members", "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
	}
	if len(e.fake.lists) != 0 {
		t.Fatal("unauthenticated request reached the backend")
	}
	if resp, _ := do(t, "GET", e.url+"/v1/members", "", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	for i := 0; i < 2; i++ {
		resp, b := do(t, "GET", e.url+"/v1/members", "", "Authorization", "Bearer s3cret")
		if resp.StatusCode != 200 {
			t.Fatalf("good token, request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	// The backend gets the caller's own credential (and checks its role).
	if md := e.fake.lastMD(); len(md.Get("authorization")) != 1 || md.Get("authorization")[0] != "Bearer s3cret" {
		t.Errorf("authorization at the backend %q, want the caller's", md.Get("authorization"))
	}
	resp, _ = do(t, "GET", e.url+"/v1/members", "", "Authorization", "Bearer s3cret")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another token is another client.
	if resp, _ := do(t, "GET", e.url+"/v1/members", "", "Authorization", "Bearer other"); resp.StatusCode != 200 {
		t.Fatalf("second client: %d", resp.StatusCode)
	}
	// Health and the spec need no token and are not limited.
	for i := 0; i < 5; i++ {
		for _, p := range api.PublicPaths {
			if resp, _ := do(t, "GET", e.url+p, ""); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
		}
	}
}
