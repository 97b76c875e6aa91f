package dockerwatch

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/logging"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/membership/api"
)

func testLog() *slog.Logger { return logging.ForTests("AGENT_TEST_LOG") }

// fakeDocker is an engine with containers and an event stream the test drives.
type fakeDocker struct {
	mu         sync.Mutex
	containers map[string]container.InspectResponse
	events     chan events.Message
	errs       chan error
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{containers: map[string]container.InspectResponse{}, events: make(chan events.Message), errs: make(chan error, 1)}
}

func (f *fakeDocker) Events(ctx context.Context, _ client.EventsListOptions) client.EventsResult {
	return client.EventsResult{Messages: f.events, Err: f.errs}
}

func (f *fakeDocker) ContainerList(ctx context.Context, _ client.ContainerListOptions) (client.ContainerListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res client.ContainerListResult
	for id, c := range f.containers {
		st := container.StateExited
		if c.State.Running {
			st = container.StateRunning
		}
		if labelled(c.Config.Labels) {
			res.Items = append(res.Items, container.Summary{ID: id, Labels: c.Config.Labels, State: st})
		}
	}
	return res, nil
}

func (f *fakeDocker) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return client.ContainerInspectResult{}, cerrdefs.ErrNotFound
	}
	return client.ContainerInspectResult{Container: c}, nil
}

func (f *fakeDocker) run(id, name, ip string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[id] = container.InspectResponse{
		ID: id, Name: "/" + name,
		State:  &container.State{Running: true},
		Config: &container.Config{Labels: labels, Image: "web:latest"},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
			"testnet": {IPAddress: netip.MustParseAddr(ip)},
		}},
	}
}

func (f *fakeDocker) stop(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.State = &container.State{Running: false}
	f.containers[id] = c
}

func (f *fakeDocker) emit(action events.Action, id string) {
	f.events <- events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id}}
}

func (f *fakeDocker) killEvent(id, signal string) {
	f.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionKill, Actor: events.Actor{ID: id, Attributes: map[string]string{"signal": signal}}}
}

// membership runs the real registry on an embedded etcd, over an in-memory gRPC connection.
func membership(t *testing.T) membershipv1.MembershipServiceClient {
	t.Helper()
	e := etcdtest.Start(t)
	svc, err := api.New(e.Client(), api.Options{Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	membershipv1.RegisterMembershipServiceServer(gs, svc)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return membershipv1.NewMembershipServiceClient(conn)
}

func startWatcher(t *testing.T, d Docker, m membershipv1.MembershipServiceClient, node string) (stop func()) {
	t.Helper()
	w, err := New(d, m, Options{Node: node, DefaultTTL: 2 * time.Second, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func members(t *testing.T, m membershipv1.MembershipServiceClient) []string {
	t.Helper()
	resp, err := m.ListMembers(context.Background(), &membershipv1.ListMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mem := range resp.Members {
		out = append(out, mem.Service+"/"+mem.Id+"@"+net.JoinHostPort(mem.Address, itoa(mem.Port)))
	}
	slices.Sort(out)
	return out
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

func durationSeconds(n int) *durationpb.Duration {
	return durationpb.New(time.Duration(n) * time.Second)
}

func waitMembers(t *testing.T, m membershipv1.MembershipServiceClient, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := members(t, m)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members = %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var webLabels = map[string]string{LabelService: "web", LabelPort: "8080", LabelCheck: "http:/healthz"}

func TestReconcileEventsAndRestart(t *testing.T) {
	d := newFakeDocker()
	m := membership(t)
	d.run("c1", "web-1", "10.0.0.1", webLabels)
	d.run("c2", "web-2", "10.0.0.2", webLabels)
	d.run("c3", "db", "10.0.0.3", map[string]string{"other": "x"}) // not labelled
	stop := startWatcher(t, d, m, "node-a")
	waitMembers(t, m, "web/web-1@10.0.0.1:8080", "web/web-2@10.0.0.2:8080")

	d.run("c4", "web-3", "10.0.0.4", webLabels)
	d.emit(events.ActionStart, "c4")
	waitMembers(t, m, "web/web-1@10.0.0.1:8080", "web/web-2@10.0.0.2:8080", "web/web-3@10.0.0.4:8080")

	d.stop("c1")
	d.emit(events.ActionDie, "c1")
	waitMembers(t, m, "web/web-2@10.0.0.2:8080", "web/web-3@10.0.0.4:8080")

	// docker kill (SIGKILL) takes it out at the kill event, before "die";
	// a reload signal does not.
	d.killEvent("c4", "1")
	d.killEvent("c4", "SIGHUP")
	time.Sleep(100 * time.Millisecond)
	waitMembers(t, m, "web/web-2@10.0.0.2:8080", "web/web-3@10.0.0.4:8080")
	d.killEvent("c2", "9")
	waitMembers(t, m, "web/web-3@10.0.0.4:8080")
	d.stop("c2")
	d.emit(events.ActionDie, "c2")
	d.run("c2", "web-2", "10.0.0.2", webLabels)
	d.emit(events.ActionStart, "c2") // restarted
	waitMembers(t, m, "web/web-2@10.0.0.2:8080", "web/web-3@10.0.0.4:8080")

	// Leases are kept alive past their TTL (2s).
	time.Sleep(3 * time.Second)
	waitMembers(t, m, "web/web-2@10.0.0.2:8080", "web/web-3@10.0.0.4:8080")

	// The agent goes away; meanwhile web-2 dies and web-5 starts. The restarted
	// agent reconciles: web-2 is removed at once (not after its TTL), web-5 added.
	stop()
	d.stop("c2")
	d.run("c5", "web-5", "10.0.0.5", webLabels)
	d.events = make(chan events.Message)
	startWatcher(t, d, m, "node-a")
	waitMembers(t, m, "web/web-3@10.0.0.4:8080", "web/web-5@10.0.0.5:8080")
}

func TestOtherNodesMembersAreLeftAlone(t *testing.T) {
	d := newFakeDocker()
	m := membership(t)
	_, err := m.Register(context.Background(), &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "web", Id: "elsewhere", Address: "10.1.0.1", Port: 80, Labels: map[string]string{MemberLabelNode: "node-b"}},
		Ttl:    durationSeconds(30),
	})
	if err != nil {
		t.Fatal(err)
	}
	d.run("c1", "web-1", "10.0.0.1", webLabels)
	startWatcher(t, d, m, "node-a")
	waitMembers(t, m, "web/elsewhere@10.1.0.1:80", "web/web-1@10.0.0.1:8080")
}
