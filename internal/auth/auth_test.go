package auth

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// TestEveryRPCHasARole fails when an API gains a method the role table
// does not list (such a method is refused to everyone until it is added).
func TestEveryRPCHasARole(t *testing.T) {
	s := grpc.NewServer()
	membershipv1.RegisterMembershipServiceServer(s, membershipv1.UnimplementedMembershipServiceServer{})
	replayv1.RegisterReplayServiceServer(s, replayv1.UnimplementedReplayServiceServer{})
	routingv1.RegisterRoutingServiceServer(s, routingv1.UnimplementedRoutingServiceServer{})
	topologyv1.RegisterTopologyServiceServer(s, topologyv1.UnimplementedTopologyServiceServer{})
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	n := 0
	for name, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if _, ok := Required(full); !ok {
				t.Errorf("%s has no role in the table (internal/auth/policy.go)", full)
			}
			n++
		}
	}
	if n < 30 {
		t.Fatalf("only %d methods found", n)
	}
}

func TestParseTokens(t *testing.T) {
	tok := NewToken()
	good := "# comment\n\n" + Line(tok, "alice", Admin) + "\n" + Line("other", "bob@example", Reader) + "\n"
	ts, err := ParseTokens(good)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ts.Lookup(tok); !ok || p != (Principal{"alice", Admin}) {
		t.Fatalf("lookup = %v %v", p, ok)
	}
	if _, ok := ts.Lookup(tok + "x"); ok {
		t.Fatal("a different token matched")
	}
	if !strings.HasPrefix(tok, "hst_") || len(tok) != 4+43 || NewToken() == tok {
		t.Fatalf("token %q", tok)
	}
	for content, want := range map[string]string{
		"":                          "no tokens",
		tok + " alice admin":        "is not sha256:<64 hex digits> (the file holds digests, never tokens)",
		Digest("x") + " alice":      "line 1: want",
		Digest("x") + " alice root": `line 1: unknown role "root"`,
		Digest("x") + " a/b admin":  `principal "a/b"`,
		"sha256:abcd alice admin":   "not sha256:<64 hex digits>",
		Line("x", "a", Admin) + "\n" + Line("x", "b", Reader): "line 2: the same token is listed twice",
	} {
		if _, err := ParseTokens(content); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", content, err, want)
		}
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	tokens, client := filepath.Join(dir, "tokens"), filepath.Join(dir, "token")
	os.WriteFile(tokens, []byte(Line("t1", "svc", Operator)+"\n"), 0o600)
	os.WriteFile(client, []byte("# mine\nt1\n"), 0o600)
	if _, err := (Flags{Mode: "tokens"}).Authenticator(); err != ErrNoTokens {
		t.Fatalf("no tokens file: %v", err)
	}
	if _, err := (Flags{Mode: "maybe"}).Authenticator(); err == nil {
		t.Fatal("mode maybe accepted")
	}
	a, err := (Flags{Mode: "tokens", TokensFile: tokens}).Authenticator()
	if err != nil || !a.Enabled() {
		t.Fatal(err)
	}
	tok, err := (Flags{TokenFile: client}).ClientToken()
	if err != nil || tok != "t1" {
		t.Fatalf("client token %q, %v", tok, err)
	}
	if p, ok := a.Check(tok); !ok || p.Name != "svc" {
		t.Fatalf("check: %v %v", p, ok)
	}
	if off, _ := (Flags{Mode: "none"}).Authenticator(); off.Enabled() {
		t.Fatal("none is enabled")
	}
}

type members struct {
	membershipv1.UnimplementedMembershipServiceServer
	seen chan Principal
}

func (m *members) ListMembers(ctx context.Context, _ *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	p, _ := FromContext(ctx)
	m.seen <- p
	return &membershipv1.ListMembersResponse{}, nil
}

func (m *members) Watch(_ *membershipv1.WatchRequest, s grpc.ServerStreamingServer[membershipv1.WatchResponse]) error {
	p, _ := FromContext(s.Context())
	m.seen <- p
	return nil
}

func serve(t *testing.T, a *Authenticator) (*members, func(token string) *grpc.ClientConn) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryInterceptor()), grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	m := &members{seen: make(chan Principal, 10)}
	membershipv1.RegisterMembershipServiceServer(s, m)
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return m, func(token string) *grpc.ClientConn {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), WithToken(token))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
}

func TestInterceptors(t *testing.T) {
	a := New(Tokens{Digest("r"): {"rita", Reader}, Digest("o"): {"otto", Operator}})
	m, dial := serve(t, a)
	ctx := context.Background()
	code := func(err error) codes.Code { return status.Code(err) }

	// Health is open.
	if _, err := healthpb.NewHealthClient(dial("")).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	for token, want := range map[string]codes.Code{"": codes.Unauthenticated, "bad": codes.Unauthenticated, "r": codes.OK, "o": codes.OK} {
		_, err := membershipv1.NewMembershipServiceClient(dial(token)).ListMembers(ctx, &membershipv1.ListMembersRequest{})
		if code(err) != want {
			t.Errorf("ListMembers with %q: %v, want %v", token, err, want)
		}
	}
	if p, q := <-m.seen, <-m.seen; p.Name+q.Name != "ritaotto" && p.Name+q.Name != "ottorita" {
		t.Fatalf("handler saw %v and %v", p, q)
	}
	// Register needs operator: reader is denied, operator passes auth (and
	// reaches the unimplemented handler).
	_, err := membershipv1.NewMembershipServiceClient(dial("r")).Register(ctx, &membershipv1.RegisterRequest{})
	if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "needs role operator; rita is reader") {
		t.Fatalf("reader Register: %v", err)
	}
	if _, err := membershipv1.NewMembershipServiceClient(dial("o")).Register(ctx, &membershipv1.RegisterRequest{}); code(err) != codes.Unimplemented {
		t.Fatalf("operator Register: %v", err)
	}
	// Streams: Watch and reflection need a token too.
	w, err := membershipv1.NewMembershipServiceClient(dial("")).Watch(ctx, &membershipv1.WatchRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous Watch: %v", err)
	}
	w, _ = membershipv1.NewMembershipServiceClient(dial("r")).Watch(ctx, &membershipv1.WatchRequest{})
	w.Recv()
	if p := <-m.seen; p.Name != "rita" {
		t.Fatalf("Watch handler saw %v", p)
	}
	rs, err := reflectionpb.NewServerReflectionClient(dial("")).ServerReflectionInfo(ctx)
	if err == nil {
		rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = rs.Recv()
	}
	if code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous reflection: %v", err)
	}
	// Internal tokens work like file tokens.
	if _, err := membershipv1.NewMembershipServiceClient(dial(a.Internal("self", Reader))).ListMembers(ctx, &membershipv1.ListMembersRequest{}); err != nil {
		t.Fatalf("internal token: %v", err)
	}
	<-m.seen
}

func TestAuthOff(t *testing.T) {
	m, dial := serve(t, Off())
	if _, err := membershipv1.NewMembershipServiceClient(dial("")).ListMembers(context.Background(), &membershipv1.ListMembersRequest{}); err != nil {
		t.Fatal(err)
	}
	if p := <-m.seen; p != Anonymous {
		t.Fatalf("saw %v", p)
	}
}

func TestHTTP(t *testing.T) {
	a := New(Tokens{Digest("r"): {"rita", Reader}})
	h := a.HTTP(Reader, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		w.Write([]byte(p.Name))
	}))
	for hdr, want := range map[string]int{"": 401, "Bearer x": 401, "Basic r": 401, "Bearer r": 200} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", hdr)
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%q: %d, want %d", hdr, rec.Code, want)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer r")
	a.HTTP(Admin, h).ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("reader on an admin handler: %d", rec.Code)
	}
}
