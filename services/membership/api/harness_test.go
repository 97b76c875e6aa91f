package api

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/logging"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// harness is one embedded etcd, the service on its own etcd client, and a
// gRPC client talking to the service over an in-memory connection.
type harness struct {
	t    *testing.T
	etcd *etcdembed.Etcd
	cli  *clientv3.Client // the service's client
	svc  *Service
	reg  *prometheus.Registry
	api  membershipv1.MembershipServiceClient
}

type harnessOpt func(*etcdembed.Config, *Options)

func newHarness(t *testing.T, hopts ...harnessOpt) *harness {
	t.Helper()
	ecfg := etcdembed.Config{Dir: t.TempDir()}
	opts := Options{OpTimeout: time.Second, PingInterval: 200 * time.Millisecond}
	for _, o := range hopts {
		o(&ecfg, &opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := etcdembed.Start(ctx, ecfg)
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return newHarnessOn(t, e, e.Endpoints(), opts)
}

func newHarnessOn(t *testing.T, e *etcdembed.Etcd, endpoints []string, opts Options) *harness {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	opts.Log = logging.ForTests("MEMBERSHIP_TEST_LOG")
	svc, err := New(cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	membershipv1.RegisterMembershipServiceServer(gs, svc)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		svc.Close()
		cli.Close()
	})
	return &harness{t: t, etcd: e, cli: cli, svc: svc, reg: reg, api: membershipv1.NewMembershipServiceClient(conn)}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

func member(service, id string, port int32) *membershipv1.Member {
	return &membershipv1.Member{Service: service, Id: id, Address: "10.0.0.1", Port: port}
}

// watchFirst opens a watch and reads its first message: the error of
// whichever fails.
func (h *harness) watchFirst(ctx context.Context, service string, after int64) error {
	s, err := h.api.Watch(ctx, &membershipv1.WatchRequest{Service: service, AfterRevision: after})
	if err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

func (h *harness) register(m *membershipv1.Member, ttl time.Duration) *membershipv1.Member {
	h.t.Helper()
	resp, err := h.api.Register(h.ctx(), &membershipv1.RegisterRequest{Member: m, Ttl: durationpb.New(ttl)})
	if err != nil {
		h.t.Fatalf("Register %s/%s: %v", m.Service, m.Id, err)
	}
	return resp.Member
}

func (h *harness) list(service string) *membershipv1.ListMembersResponse {
	h.t.Helper()
	resp, err := h.api.ListMembers(h.ctx(), &membershipv1.ListMembersRequest{Service: service})
	if err != nil {
		h.t.Fatalf("ListMembers(%q): %v", service, err)
	}
	return resp
}

func ids(ms []*membershipv1.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Service + "/" + m.Id
	}
	return out
}

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != want {
		t.Fatalf("got %v (%v), want code %v", st.Code(), err, want)
	}
	return st
}

func codeOf(err error) codes.Code { return status.Code(err) }
