package api

import (
	"context"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestRegisterListKeepAliveDeregister(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := time.Now().Add(-time.Second)
	web1 := member("web", "web-1", 8080)
	web1.Labels = map[string]string{"zone": "a"}
	got := h.register(web1, 10*time.Second)
	h.register(member("web", "web-2", 8081), 10*time.Second)
	h.register(member("api", "api-1", 9000), 10*time.Second)

	// Output-only fields are set.
	if got.Ttl.AsDuration() != 10*time.Second || got.LeaseId == 0 || got.RegisterTime.AsTime().Before(before) {
		t.Fatalf("registered member output fields: ttl=%v lease=%d time=%v", got.Ttl.AsDuration(), got.LeaseId, got.RegisterTime.AsTime())
	}
	// Stored as protojson under <prefix><service>/<id>, on its lease.
	kv, err := h.cli.Get(h.ctx(), DefaultPrefix+"web/web-1")
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("etcd key %sweb/web-1: %v %v", DefaultPrefix, kv, err)
	}
	stored := &membershipv1.Member{}
	if err := protojson.Unmarshal(kv.Kvs[0].Value, stored); err != nil {
		t.Fatalf("stored value is not protojson: %v", err)
	}
	if stored.Labels["zone"] != "a" || kv.Kvs[0].Lease != got.LeaseId {
		t.Fatalf("stored %v on lease %d, want zone=a on lease %d", stored, kv.Kvs[0].Lease, got.LeaseId)
	}

	all := h.list("")
	if want := []string{"api/api-1", "web/web-1", "web/web-2"}; !slices.Equal(ids(all.Members), want) {
		t.Fatalf("list all = %v, want %v", ids(all.Members), want)
	}
	if all.Revision == 0 {
		t.Fatal("list revision is 0")
	}
	if !proto.Equal(all.Members[1], got) {
		t.Fatalf("listed member %v differs from registered %v", all.Members[1], got)
	}
	if want := []string{"web/web-1", "web/web-2"}; !slices.Equal(ids(h.list("web").Members), want) {
		t.Fatalf("list web = %v, want %v", ids(h.list("web").Members), want)
	}
	if n := len(h.list("nothing").Members); n != 0 {
		t.Fatalf("list of unknown service has %d members", n)
	}
	// A service whose name is a prefix of another does not see its members.
	h.register(member("web-admin", "x", 1), 10*time.Second)
	if n := len(h.list("web").Members); n != 2 {
		t.Fatalf("list web = %d members, want 2 (web-admin must not leak in)", n)
	}

	ka, err := h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "web-1"})
	if err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	if ka.Ttl.AsDuration() != 10*time.Second {
		t.Fatalf("KeepAlive ttl = %v, want 10s", ka.Ttl.AsDuration())
	}
	_, err = h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "nope"})
	wantCode(t, err, codes.NotFound)

	if _, err := h.api.Deregister(h.ctx(), &membershipv1.DeregisterRequest{Service: "web", Id: "web-1"}); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if want := []string{"web/web-2"}; !slices.Equal(ids(h.list("web").Members), want) {
		t.Fatalf("after deregister list web = %v, want %v", ids(h.list("web").Members), want)
	}
	// The lease is revoked, not left to expire.
	ttl, err := h.cli.TimeToLive(h.ctx(), clientv3.LeaseID(got.LeaseId))
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("lease of deregistered member: ttl=%v err=%v, want revoked (-1)", ttl, err)
	}
	_, err = h.api.Deregister(h.ctx(), &membershipv1.DeregisterRequest{Service: "web", Id: "web-1"})
	wantCode(t, err, codes.NotFound)
	_, err = h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "web-1"})
	wantCode(t, err, codes.NotFound)
}

func TestRegisterAgainReplacesAndRevokesOldLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.register(member("web", "a", 80), 30*time.Second)
	m := member("web", "a", 81)
	m.LeaseId = 12345 // output only: ignored
	second := h.register(m, 20*time.Second)
	if second.LeaseId == first.LeaseId || second.LeaseId == 12345 {
		t.Fatalf("re-register kept lease %d (first %d)", second.LeaseId, first.LeaseId)
	}
	ttl, err := h.cli.TimeToLive(h.ctx(), clientv3.LeaseID(first.LeaseId))
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("old lease: ttl=%v err=%v, want revoked (-1)", ttl, err)
	}
	list := h.list("web").Members
	if len(list) != 1 || list[0].Port != 81 || list[0].LeaseId != second.LeaseId || list[0].Ttl.AsDuration() != 20*time.Second {
		t.Fatalf("after re-register list = %v", list)
	}
}

func TestHealthyOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(member("web", "a", 80), 30*time.Second)
	h.register(member("web", "b", 80), 30*time.Second)
	// Health is output only and set by probes; mark b down in etcd directly.
	kv, err := h.cli.Get(h.ctx(), DefaultPrefix+"web/b")
	if err != nil {
		t.Fatal(err)
	}
	m := &membershipv1.Member{}
	if err := protojson.Unmarshal(kv.Kvs[0].Value, m); err != nil {
		t.Fatal(err)
	}
	m.Health = membershipv1.Health_HEALTH_UNHEALTHY
	b, _ := protojson.Marshal(m)
	if _, err := h.cli.Put(h.ctx(), DefaultPrefix+"web/b", string(b), clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	resp, err := h.api.ListMembers(h.ctx(), &membershipv1.ListMembersRequest{Service: "web", HealthyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"web/a"}; !slices.Equal(ids(resp.Members), want) {
		t.Fatalf("healthy_only = %v, want %v", ids(resp.Members), want)
	}
	if n := len(h.list("web").Members); n != 2 {
		t.Fatalf("without healthy_only: %d members, want 2", n)
	}
}

func TestTTLExpiryRemovesMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(member("web", "kept", 80), time.Second)
	start := time.Now()
	h.register(member("web", "dropped", 80), time.Second)

	// "kept" renews every 300ms; "dropped" never does.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-t.C:
				if _, err := h.api.KeepAlive(context.Background(), &membershipv1.KeepAliveRequest{Service: "web", Id: "kept"}); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	for {
		members := ids(h.list("web").Members)
		if !slices.Contains(members, "web/dropped") {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("member with 1s TTL still listed after %v: %v", time.Since(start), members)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("1s-TTL member gone after %v", time.Since(start))
	time.Sleep(1500 * time.Millisecond) // well past the kept member's TTL
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("KeepAlive of kept member: %v", err)
	}
	if want := []string{"web/kept"}; !slices.Equal(ids(h.list("web").Members), want) {
		t.Fatalf("list = %v, want %v", ids(h.list("web").Members), want)
	}
	_, err := h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "dropped"})
	wantCode(t, err, codes.NotFound)
}

func TestCustomPrefix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *etcdembed.Config, o *Options) { o.Prefix = "/other/reg" })
	h.register(member("web", "a", 80), 10*time.Second)
	kv, err := h.cli.Get(h.ctx(), "/other/reg/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(kv.Kvs) != 1 || string(kv.Kvs[0].Key) != "/other/reg/web/a" {
		t.Fatalf("keys under custom prefix: %v", kv.Kvs)
	}
	// Foreign keys under the prefix are not members.
	if _, err := h.cli.Put(h.ctx(), "/other/reg/junk", "x"); err != nil {
		t.Fatal(err)
	}
	if got := ids(h.list("").Members); !slices.Equal(got, []string{"web/a"}) {
		t.Fatalf("list = %v", got)
	}
}

func TestTTLBoundsFromOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *etcdembed.Config, o *Options) { o.MinTTL, o.MaxTTL = 5*time.Second, time.Minute })
	for ttl, want := range map[time.Duration]codes.Code{
		4 * time.Second:  codes.InvalidArgument,
		5 * time.Second:  codes.OK,
		time.Minute:      codes.OK,
		61 * time.Second: codes.InvalidArgument,
	} {
		_, err := h.api.Register(h.ctx(), &membershipv1.RegisterRequest{Member: member("web", "a", 80), Ttl: durationpb.New(ttl)})
		if got := codeOf(err); got != want {
			t.Errorf("ttl %v: %v (%v), want %v", ttl, got, err, want)
		}
	}
}
