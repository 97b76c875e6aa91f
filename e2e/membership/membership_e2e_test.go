// End-to-end: the membership and gateway images (built by Bazel) against a real
// etcd container, driven over REST and gRPC as a user would.
package membership_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestMain(m *testing.M) { harness.Main(m) }

type cluster struct {
	etcd       *harness.Etcd
	membership testcontainers.Container
	rest       string // http://127.0.0.1:port of the gateway
	grpc       membershipv1.MembershipServiceClient
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	nw := harness.Network(t)
	c := &cluster{etcd: harness.StartEtcd(t, nw)}
	c.membership = harness.Start(t, nw, []string{"membership"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/membership_image.tar"),
		ExposedPorts: []string{"9301/tcp", "9302/tcp"},
		Env: map[string]string{
			"HINDSIGHT_ETCD_ENDPOINTS": c.etcd.NetworkEndpoint,
			"HINDSIGHT_OP_TIMEOUT":     "2s",
		},
		WaitingFor: wait.ForHTTP("/readyz").WithPort("9302/tcp").WithStartupTimeout(60 * time.Second),
	})
	gw := harness.Start(t, nw, []string{"gateway"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/gateway_image.tar"),
		ExposedPorts: []string{"8080/tcp"},
		Env:          map[string]string{"HINDSIGHT_MEMBERSHIP_ENDPOINT": "membership:9301"},
		WaitingFor:   wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(60 * time.Second),
	})
	var err error
	if c.rest, err = gw.PortEndpoint(context.Background(), "8080/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	addr, err := c.membership.PortEndpoint(context.Background(), "9301/tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), harness.GRPCCredentials(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.grpc = membershipv1.NewMembershipServiceClient(conn)
	return c
}

// call sends a JSON request to the gateway and returns the status and decoded body.
func (c *cluster) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.rest+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", harness.Bearer(t, harness.Admin))
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

func member(id string, port int) map[string]any {
	return map[string]any{"member": map[string]any{
		"service": "web", "id": id, "address": "10.1.0." + id[len(id)-1:], "port": port,
		"labels": map[string]string{"zone": "a"},
	}, "ttl": "3s"}
}

func (c *cluster) ids(t *testing.T) []string {
	t.Helper()
	resp, err := c.grpc.ListMembers(context.Background(), &membershipv1.ListMembersRequest{Service: "web"})
	if err != nil {
		t.Fatalf("ListMembers over gRPC: %v", err)
	}
	var ids []string
	for _, m := range resp.Members {
		ids = append(ids, m.Id)
	}
	return ids
}

func TestRegisterListExpireWatch(t *testing.T) {
	c := startCluster(t)

	// Watch from the start, over gRPC, before anything registers.
	wctx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	watch, err := c.grpc.Watch(wctx, &membershipv1.WatchRequest{Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *membershipv1.MemberEvent, 100)
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				close(events)
				return
			}
			for _, ev := range resp.Events {
				events <- ev
			}
		}
	}()

	for i, id := range []string{"web-1", "web-2", "web-3"} {
		if code, body := c.call(t, "POST", "/v1/members", member(id, 8000+i)); code != http.StatusOK {
			t.Fatalf("register %s over REST: %d %v", id, code, body)
		}
	}
	if got := c.ids(t); strings.Join(got, ",") != "web-1,web-2,web-3" {
		t.Fatalf("members over gRPC = %v", got)
	}
	code, body := c.call(t, "GET", "/v1/services/web/members", nil)
	if code != http.StatusOK || len(body["members"].([]any)) != 3 {
		t.Fatalf("members over REST: %d %v", code, body)
	}

	// Keep web-1 and web-2 alive; web-3 stops renewing and must be gone within its
	// TTL (3 s) plus one second.
	stopped := time.Now()
	var gone time.Duration
	for time.Since(stopped) < 6*time.Second {
		for _, id := range []string{"web-1", "web-2"} {
			if code, body := c.call(t, "POST", "/v1/services/web/members/"+id+":keepalive", map[string]any{}); code != http.StatusOK {
				t.Fatalf("keepalive %s: %d %v", id, code, body)
			}
		}
		if ids := c.ids(t); gone == 0 && len(ids) == 2 {
			gone = time.Since(stopped)
			if strings.Join(ids, ",") != "web-1,web-2" {
				t.Fatalf("after expiry: %v", ids)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if gone == 0 || gone > 4*time.Second {
		t.Fatalf("web-3 left after %v, want within its 3s TTL + 1s", gone)
	}
	t.Logf("member left %v after its last renewal (TTL 3s)", gone.Round(10*time.Millisecond))

	// The watch saw three joins and then web-3 leave.
	var seen []string
	deadline := time.After(5 * time.Second)
	for len(seen) < 4 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch ended early; saw %v", seen)
			}
			seen = append(seen, fmt.Sprintf("%s:%s", strings.TrimPrefix(ev.Type.String(), "TYPE_"), ev.Member.GetId()))
		case <-deadline:
			t.Fatalf("watch saw %v, want 3 joins and a leave", seen)
		}
	}
	if want := "JOIN:web-1,JOIN:web-2,JOIN:web-3,LEAVE:web-3"; strings.Join(seen, ",") != want {
		t.Fatalf("watch events %v, want %s", seen, want)
	}

	// Deregister is immediate.
	if code, body := c.call(t, "DELETE", "/v1/services/web/members/web-1", nil); code != http.StatusOK {
		t.Fatalf("deregister: %d %v", code, body)
	}
	if got := c.ids(t); strings.Join(got, ",") != "web-2" {
		t.Fatalf("after deregister: %v", got)
	}
}

func TestBadInputIs400NamingTheField(t *testing.T) {
	c := startCluster(t)
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"service", map[string]any{"member": map[string]any{"service": "Web!", "id": "a", "address": "10.0.0.1", "port": 80}, "ttl": "5s"}, "member.service"},
		{"empty id", map[string]any{"member": map[string]any{"service": "web", "address": "10.0.0.1", "port": 80}, "ttl": "5s"}, "member.id"},
		{"address", map[string]any{"member": map[string]any{"service": "web", "id": "a", "address": "not an address", "port": 80}, "ttl": "5s"}, "member.address"},
		{"port", map[string]any{"member": map[string]any{"service": "web", "id": "a", "address": "10.0.0.1", "port": 70000}, "ttl": "5s"}, "member.port"},
		{"ttl", map[string]any{"member": map[string]any{"service": "web", "id": "a", "address": "10.0.0.1", "port": 80}, "ttl": "7200s"}, "ttl"},
	}
	for _, tc := range cases {
		code, body := c.call(t, "POST", "/v1/members", tc.body)
		msg, _ := body["message"].(string)
		if code != http.StatusBadRequest || !strings.HasPrefix(msg, tc.field+":") {
			t.Errorf("%s: got %d %q, want 400 naming %s", tc.name, code, msg, tc.field)
		}
	}
	// Unknown JSON fields are refused too, rather than silently ignored.
	if code, _ := c.call(t, "POST", "/v1/members", map[string]any{"membr": map[string]any{}}); code != http.StatusBadRequest {
		t.Errorf("unknown field: got %d, want 400", code)
	}
}

func TestEtcdDownIsUnavailableThenRecovers(t *testing.T) {
	c := startCluster(t)
	if code, body := c.call(t, "POST", "/v1/members", member("web-1", 80)); code != http.StatusOK {
		t.Fatalf("register: %d %v", code, body)
	}
	stopTimeout := 5 * time.Second
	if err := c.etcd.Container.Stop(context.Background(), &stopTimeout); err != nil {
		t.Fatal(err)
	}

	// REST: 503 quickly (op timeout 2 s), never a hang.
	start := time.Now()
	code, body := c.call(t, "GET", "/v1/services/web/members", nil)
	if took := time.Since(start); code != http.StatusServiceUnavailable || took > 4*time.Second {
		t.Fatalf("with etcd down: %d %v after %v, want 503 within 4s", code, body, took)
	}
	// gRPC: Unavailable.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.grpc.Register(ctx, &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "web", Id: "web-2", Address: "10.0.0.2", Port: 80},
		Ttl:    durationpb.New(30 * time.Second),
	})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Register with etcd down: %v, want Unavailable", err)
	}

	if err := c.etcd.Container.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for {
		code, body = c.call(t, "POST", "/v1/members", map[string]any{
			"member": map[string]any{"service": "web", "id": "web-2", "address": "10.0.0.2", "port": 80}, "ttl": "30s"})
		if code == http.StatusOK {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no recovery 30s after etcd restarted: %d %v", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("registrations succeed again %v after etcd restarted", time.Since(start).Round(10*time.Millisecond))
	if got := c.ids(t); !strings.Contains(strings.Join(got, ","), "web-2") {
		t.Fatalf("after recovery: %v", got)
	}
}
