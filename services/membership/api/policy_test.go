package api

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestAddressPolicy(t *testing.T) {
	var def AddressPolicy
	loop := AddressPolicy{AllowLoopback: true, Deny: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	for addr, want := range map[string][2]string{ // default policy, loopback allowed + 10.9/16 denied
		"10.0.0.5":                  {"", ""},
		"web-1.internal.example":    {"", ""},
		"169.254.169.254":           {"link-local", "link-local"},
		"::ffff:169.254.169.254":    {"link-local", "link-local"},
		"fe80::1":                   {"link-local", "link-local"},
		"127.0.0.1":                 {"loopback", ""},
		"127.1.2.3":                 {"loopback", ""},
		"::1":                       {"loopback", ""},
		"::ffff:127.0.0.1":          {"loopback", ""},
		"localhost":                 {"loopback", ""},
		"a.localhost":               {"loopback", ""},
		"metadata.google.internal":  {"metadata", "metadata"},
		"METADATA.google.internal.": {"metadata", "metadata"},
		"0.0.0.0":                   {"unspecified", "unspecified"},
		"::":                        {"unspecified", "unspecified"},
		"239.1.2.3":                 {"multicast", "multicast"},
		"255.255.255.255":           {"broadcast", "broadcast"},
		"10.9.3.4":                  {"", "denied network"},
	} {
		for i, p := range []AddressPolicy{def, loop} {
			got := p.refuse(addr)
			if (want[i] == "") != (got == "") || !strings.Contains(got, want[i]) {
				t.Errorf("policy %d, %s: %q, want %q", i, addr, got, want[i])
			}
		}
	}
}

func as(name string, role auth.Role) context.Context {
	return auth.NewContext(context.Background(), auth.Principal{Name: name, Role: role})
}

func regReq(id, addr string) *membershipv1.RegisterRequest {
	return &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "router", Id: id, Address: addr, Port: 9101},
		Ttl:    durationpb.New(time.Minute),
	}
}

// An id belongs to the principal that registered it: someone else can
// neither replace it (a fake router receiving agents' logs) nor renew or
// remove it; an admin can.
func TestMemberOwnership(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.Register(as("agent-a", auth.Operator), regReq("r1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Register(as("mallory", auth.Operator), regReq("r1", "10.6.6.6"))
	st := wantCode(t, err, codes.PermissionDenied)
	if !strings.Contains(st.Message(), "registered by agent-a") {
		t.Fatalf("message %q", st.Message())
	}
	if got := h.list("router").Members; len(got) != 1 || got[0].Address != "10.0.0.1" {
		t.Fatalf("after the refused takeover: %v", got)
	}
	_, err = h.svc.Deregister(as("mallory", auth.Operator), &membershipv1.DeregisterRequest{Service: "router", Id: "r1"})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.svc.KeepAlive(as("mallory", auth.Operator), &membershipv1.KeepAliveRequest{Service: "router", Id: "r1"})
	wantCode(t, err, codes.PermissionDenied)
	// The owner re-registers and renews; an admin may take over.
	if _, err := h.svc.Register(as("agent-a", auth.Operator), regReq("r1", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.KeepAlive(as("agent-a", auth.Operator), &membershipv1.KeepAliveRequest{Service: "router", Id: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Deregister(as("root", auth.Admin), &membershipv1.DeregisterRequest{Service: "router", Id: "r1"}); err != nil {
		t.Fatal(err)
	}
	// Gone with its owner: the id is free again.
	if _, err := h.svc.Register(as("mallory", auth.Operator), regReq("r1", "10.0.0.3")); err != nil {
		t.Fatalf("a freed id: %v", err)
	}
	// Owners are not members: list, watch and renderers never see them.
	if got := h.list("").Members; len(got) != 1 {
		t.Fatalf("list: %v", got)
	}
}

func TestMembersPerServiceCap(t *testing.T) {
	h := newHarness(t, func(_ *etcdembed.Config, o *Options) { o.MaxMembersPerService = 3 })
	for i := range 3 {
		if _, err := h.svc.Register(as("a", auth.Operator), regReq(fmt.Sprintf("r%d", i), "10.0.0.1")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.svc.Register(as("a", auth.Operator), regReq("r3", "10.0.0.1"))
	if st := wantCode(t, err, codes.ResourceExhausted); !strings.Contains(st.Message(), "service router has 3 members, the limit is 3") {
		t.Fatalf("message %q", st.Message())
	}
	// Registering an existing member again is not a new member.
	if _, err := h.svc.Register(as("a", auth.Operator), regReq("r1", "10.0.0.9")); err != nil {
		t.Fatalf("re-register at the cap: %v", err)
	}
	if n := len(h.list("router").Members); n != 3 {
		t.Fatalf("%d members", n)
	}
}

func TestRefusedAddresses(t *testing.T) {
	h := newHarness(t)
	for _, addr := range []string{"169.254.169.254", "127.0.0.1", "::1", "metadata.google.internal", "localhost"} {
		_, err := h.api.Register(h.ctx(), regReq("x", addr))
		if st := wantCode(t, err, codes.InvalidArgument); !strings.Contains(st.Message(), "member.address: ") {
			t.Fatalf("%s: %q", addr, st.Message())
		}
	}
	if n := len(h.list("").Members); n != 0 {
		t.Fatalf("refused registrations stored %d members", n)
	}
}
