package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func TestEtcdStoppedAnswersUnavailableQuickly(t *testing.T) {
	t.Parallel()
	const opTimeout = time.Second
	h := newHarness(t, func(_ *etcdembed.Config, o *Options) { o.OpTimeout = opTimeout })
	h.register(member("web", "a", 80), 30*time.Second)
	rev := h.list("").Revision
	open := h.watch("web", 0)
	open.response(5 * time.Second)

	if err := h.etcd.Close(); err != nil {
		t.Fatalf("stopping etcd: %v", err)
	}
	stopped := time.Now()

	// The open stream ends too, saying where to resume.
	err := open.end(opTimeout + h.svc.opts.PingInterval + 2*time.Second)
	st := wantCode(t, err, codes.Unavailable)
	if !strings.Contains(st.Message(), "after_revision=") {
		t.Fatalf("watch end message %q does not say where to resume", st.Message())
	}
	t.Logf("open watch ended %v after etcd stopped", time.Since(stopped))

	watch := func(after int64) func(ctx context.Context) error {
		return func(ctx context.Context) error { return h.watchFirst(ctx, "web", after) }
	}
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Register", func(ctx context.Context) error {
			_, err := h.api.Register(ctx, &membershipv1.RegisterRequest{Member: member("web", "b", 80), Ttl: durationpb.New(10 * time.Second)})
			return err
		}},
		{"KeepAlive", func(ctx context.Context) error {
			_, err := h.api.KeepAlive(ctx, &membershipv1.KeepAliveRequest{Service: "web", Id: "a"})
			return err
		}},
		{"Deregister", func(ctx context.Context) error {
			_, err := h.api.Deregister(ctx, &membershipv1.DeregisterRequest{Service: "web", Id: "a"})
			return err
		}},
		{"ListMembers", func(ctx context.Context) error {
			_, err := h.api.ListMembers(ctx, &membershipv1.ListMembersRequest{})
			return err
		}},
		{"Watch from now", watch(0)},
		{"Watch from revision", watch(rev)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The client allows far longer than the service may take.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			took := time.Since(start)
			wantCode(t, err, codes.Unavailable)
			if took > opTimeout+time.Second {
				t.Fatalf("Unavailable after %v, want within %v", took, opTimeout+time.Second)
			}
		})
	}
	t.Run("etcd_up metric", func(t *testing.T) {
		waitMetric(t, h, "hindsight_membership_etcd_up", nil, 0)
	})
}

func TestRecoversWhenEtcdComesBack(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), servertest.FreeAddr(t)
	start := func() *etcdembed.Etcd {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: dir, ClientAddr: addr})
		if err != nil {
			t.Fatalf("etcd: %v", err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	e := start()
	h := newHarnessOn(t, e, e.Endpoints(), Options{OpTimeout: time.Second, PingInterval: 200 * time.Millisecond})
	h.register(member("web", "a", 80), time.Minute)
	e.Close()

	_, err := h.api.ListMembers(h.ctx(), &membershipv1.ListMembersRequest{})
	wantCode(t, err, codes.Unavailable)
	waitMetric(t, h, "hindsight_membership_etcd_up", nil, 0)

	start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := h.api.ListMembers(h.ctx(), &membershipv1.ListMembersRequest{})
		if err == nil {
			if got := ids(resp.Members); len(got) != 1 || got[0] != "web/a" {
				t.Fatalf("after restart list = %v, want [web/a]", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 15s after etcd came back: %v", err)
		}
		if c := status.Code(err); c != codes.Unavailable {
			t.Fatalf("while recovering: %v, want Unavailable", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.register(member("web", "b", 80), time.Minute)
	w := h.watch("web", 0)
	checkEvents(t, w.response(5*time.Second).Events, "JOIN web/a", "JOIN web/b")
	waitMetric(t, h, "hindsight_membership_etcd_up", nil, 1)
	waitMetric(t, h, "hindsight_membership_members", map[string]string{"service": "web"}, 2)
}
