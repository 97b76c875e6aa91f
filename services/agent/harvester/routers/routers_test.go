package routers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestListNotifiesOnChangeOnly(t *testing.T) {
	l := NewList("b:1", "a:1", "b:1", "")
	if got := l.Addrs(); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Fatalf("Addrs %v", got)
	}
	ch := l.Changed()
	l.Set([]string{"b:1", "a:1"})
	select {
	case <-ch:
		t.Fatal("woken without a change")
	default:
	}
	l.Set([]string{"c:1"})
	select {
	case <-ch:
	default:
		t.Fatal("not woken on a change")
	}
}

func TestOrderIsStableAndSpreads(t *testing.T) {
	addrs := []string{"r1:9", "r2:9", "r3:9"}
	first := map[string]int{}
	for i := range 300 {
		key := fmt.Sprintf("input-%d", i)
		o := Order(key, addrs)
		if len(o) != 3 || !slices.Equal(o, Order(key, []string{"r3:9", "r1:9", "r2:9"})) {
			t.Fatalf("order depends on input order: %v", o)
		}
		first[o[0]]++
		// Removing a router only moves the keys that preferred it.
		if o2 := Order(key, []string{"r1:9", "r2:9"}); o[0] != "r3:9" && o2[0] != o[0] {
			t.Fatalf("%s moved from %s to %s when r3 left", key, o[0], o2[0])
		}
	}
	for _, a := range addrs {
		if first[a] < 60 {
			t.Fatalf("uneven spread: %v", first)
		}
	}
}

// fakeMembership serves ListMembers and Watch from a member list the test edits.
type fakeMembership struct {
	membershipv1.UnimplementedMembershipServiceServer
	mu      sync.Mutex
	members map[string]*membershipv1.Member
	rev     int64
	events  chan *membershipv1.MemberEvent
	fail    bool
}

func (f *fakeMembership) ListMembers(_ context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, status.Error(codes.Unavailable, "etcd down")
	}
	resp := &membershipv1.ListMembersResponse{Revision: f.rev}
	for _, m := range f.members {
		if req.HealthyOnly && m.Health == membershipv1.Health_HEALTH_UNHEALTHY {
			continue
		}
		resp.Members = append(resp.Members, m)
	}
	return resp, nil
}

func (f *fakeMembership) Watch(req *membershipv1.WatchRequest, s grpc.ServerStreamingServer[membershipv1.WatchResponse]) error {
	for {
		select {
		case ev := <-f.events:
			if ev == nil {
				return status.Error(codes.Unavailable, "etcd down")
			}
			if err := s.Send(&membershipv1.WatchResponse{Events: []*membershipv1.MemberEvent{ev}}); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func waitAddrs(t *testing.T, l *List, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(l.Addrs(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("routers %v, want %v", l.Addrs(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowMembership(t *testing.T) {
	f := &fakeMembership{
		members: map[string]*membershipv1.Member{
			"r1": {Service: "router", Id: "r1", Address: "10.0.0.1", Port: 9401, Health: membershipv1.Health_HEALTH_HEALTHY},
			"r2": {Service: "router", Id: "r2", Address: "10.0.0.2", Port: 9401, Health: membershipv1.Health_HEALTH_UNHEALTHY},
		},
		rev:    7,
		events: make(chan *membershipv1.MemberEvent),
	}
	conn := servertest.Serve(t, func(srv *grpc.Server) { membershipv1.RegisterMembershipServiceServer(srv, f) })

	l := NewList("static:1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		FollowMembership(ctx, membershipv1.NewMembershipServiceClient(conn), "router", []string{"static:1"}, l, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	waitAddrs(t, l, "10.0.0.1:9401")

	f.events <- &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_UPDATE, Member: &membershipv1.Member{Id: "r2", Address: "10.0.0.2", Port: 9401, Health: membershipv1.Health_HEALTH_HEALTHY}}
	waitAddrs(t, l, "10.0.0.1:9401", "10.0.0.2:9401")
	f.events <- &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_UPDATE, Member: &membershipv1.Member{Id: "r1", Address: "10.0.0.1", Port: 9401, Health: membershipv1.Health_HEALTH_UNHEALTHY}}
	waitAddrs(t, l, "10.0.0.2:9401")

	// The membership service failing keeps the last known routers.
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	f.events <- nil
	time.Sleep(300 * time.Millisecond)
	waitAddrs(t, l, "10.0.0.2:9401")

	// Back, with no healthy router left: the static list.
	f.mu.Lock()
	f.fail = false
	f.members = map[string]*membershipv1.Member{}
	f.mu.Unlock()
	waitAddrs(t, l, "static:1")
	f.events <- &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_JOIN, Member: &membershipv1.Member{Id: "r3", Address: "::1", Port: 9401}}
	waitAddrs(t, l, "[::1]:9401")
	f.events <- &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_LEAVE, Member: &membershipv1.Member{Id: "r3"}}
	waitAddrs(t, l, "static:1")

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("FollowMembership did not return")
	}
}
