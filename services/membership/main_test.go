package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/membership/app"
)

func TestFlagDefaults(t *testing.T) {
	servertest.Defaults(t, binary().Bind, map[string]string{
		"grpc-addr":         ":9301",
		"admin-addr":        ":9302",
		"etcd-endpoints":    "localhost:2379",
		"etcd-prefix":       "/hindsight/members/",
		"min-ttl":           "1s",
		"max-ttl":           "1h0m0s",
		"op-timeout":        "3s",
		"etcd-dial-timeout": "5s",
	})
}

// startService runs the binary's setup and server in-process on free ports.
func startService(t *testing.T, args ...string) (*server.Server, *grpc.ClientConn) {
	t.Helper()
	began := time.Now()
	r := servertest.Start(t, binary(), append([]string{"--shutdown-timeout=2s"}, args...)...)
	if took := time.Since(began); took > time.Second {
		t.Errorf("start-up took %v; it must not wait for etcd", took)
	}
	return r.Server, r.Conn
}

func checkServing(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "hindsight.membership.v1.MembershipService"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		cancel()
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v %v, want SERVING", svc, resp, err)
		}
	}
}

func TestMainWiring(t *testing.T) {
	t.Parallel()
	e := etcdtest.Start(t)
	s, conn := startService(t, "--etcd-endpoints="+strings.Join(e.Endpoints(), ","), "--etcd-prefix=/test/members")
	checkServing(t, conn)

	api := membershipv1.NewMembershipServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := api.Register(ctx, &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "web", Id: "a", Address: "10.0.0.1", Port: 80},
		Ttl:    durationpb.New(30 * time.Second),
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	list, err := api.ListMembers(ctx, &membershipv1.ListMembersRequest{Service: "web"})
	if err != nil || len(list.Members) != 1 {
		t.Fatalf("ListMembers: %v %v", list, err)
	}
	kv, err := e.Client().Get(ctx, "/test/members/web/a")
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("--etcd-prefix not used: %v %v", kv, err)
	}
	_, err = api.Register(ctx, &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "web", Id: "a", Address: "10.0.0.1", Port: 80},
		Ttl:    durationpb.New(2 * time.Hour),
	})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "ttl: 2h exceeds maximum 1h") {
		t.Fatalf("Register with 2h TTL: %v", err)
	}

	resp, err := http.Get("http://" + s.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"hindsight_membership_registrations_total 1",
		"hindsight_membership_etcd_up 1",
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Register",grpc_service="hindsight.membership.v1.MembershipService",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestStartsAndAnswersUnavailableWithoutEtcd(t *testing.T) {
	t.Parallel()
	nothing := servertest.FreeAddr(t)
	_, conn := startService(t, "--etcd-endpoints="+nothing, "--op-timeout=1s", "--etcd-dial-timeout=1s")
	checkServing(t, conn)
	api := membershipv1.NewMembershipServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := api.ListMembers(ctx, &membershipv1.ListMembersRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("ListMembers without etcd: %v, want Unavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Unavailable after %v, want within 2s", took)
	}
}

func TestBadEndpoints(t *testing.T) {
	err := servertest.SetupError(t, binary(), "--etcd-endpoints= , ", "--admin-addr=")
	if err == nil || !strings.Contains(err.Error(), "--etcd-endpoints") {
		t.Fatalf("setup with no endpoints: %v, want error naming --etcd-endpoints", err)
	}
}

// TestAppFlags: the membership binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	servertest.AppFlags(t, binary().Bind, new(app.Flags).Bind)
}
