package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// watcher reads a Watch stream in the background.
type watcher struct {
	t      *testing.T
	cancel context.CancelFunc
	resps  chan *membershipv1.WatchResponse
	err    chan error
}

func (h *harness) watch(service string, after int64) *watcher {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	stream, err := h.api.Watch(ctx, &membershipv1.WatchRequest{Service: service, AfterRevision: after})
	if err != nil {
		h.t.Fatalf("Watch: %v", err)
	}
	w := &watcher{t: h.t, cancel: cancel, resps: make(chan *membershipv1.WatchResponse, 100), err: make(chan error, 1)}
	go w.read(stream)
	return w
}

func (w *watcher) read(stream grpc.ServerStreamingClient[membershipv1.WatchResponse]) {
	for {
		resp, err := stream.Recv()
		if err != nil {
			w.err <- err
			return
		}
		w.resps <- resp
	}
}

// response waits for the next response.
func (w *watcher) response(timeout time.Duration) *membershipv1.WatchResponse {
	w.t.Helper()
	select {
	case r := <-w.resps:
		return r
	case err := <-w.err:
		w.t.Fatalf("watch ended: %v", err)
	case <-time.After(timeout):
		w.t.Fatalf("no watch response within %v", timeout)
	}
	return nil
}

// events reads responses until it has n events.
func (w *watcher) events(n int, timeout time.Duration) []*membershipv1.MemberEvent {
	w.t.Helper()
	var out []*membershipv1.MemberEvent
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		out = append(out, w.response(time.Until(deadline)).Events...)
	}
	if len(out) > n {
		w.t.Fatalf("got %d events, want %d: %s", len(out), n, describe(out))
	}
	return out
}

// quiet fails if anything arrives within d.
func (w *watcher) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case r := <-w.resps:
		w.t.Fatalf("unexpected watch response: %s", describe(r.Events))
	case err := <-w.err:
		w.t.Fatalf("watch ended: %v", err)
	case <-time.After(d):
	}
}

// end waits for the stream to end and returns its error.
func (w *watcher) end(timeout time.Duration) error {
	w.t.Helper()
	for {
		select {
		case <-w.resps:
		case err := <-w.err:
			return err
		case <-time.After(timeout):
			w.t.Fatalf("watch still open after %v", timeout)
			return nil
		}
	}
}

var typeName = map[membershipv1.MemberEvent_Type]string{
	membershipv1.MemberEvent_TYPE_JOIN:   "JOIN",
	membershipv1.MemberEvent_TYPE_UPDATE: "UPDATE",
	membershipv1.MemberEvent_TYPE_LEAVE:  "LEAVE",
}

func describe(evs []*membershipv1.MemberEvent) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = fmt.Sprintf("%s %s/%s", typeName[e.Type], e.Member.GetService(), e.Member.GetId())
	}
	return strings.Join(s, ", ")
}

func checkEvents(t *testing.T, got []*membershipv1.MemberEvent, want ...string) {
	t.Helper()
	if d := describe(got); d != strings.Join(want, ", ") {
		t.Fatalf("events:\n got  %s\n want %s", d, strings.Join(want, ", "))
	}
}

func TestWatchJoinUpdateLeaveInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(member("web", "a", 80), 30*time.Second)
	h.register(member("api", "x", 80), 30*time.Second)

	w := h.watch("web", 0)
	all := h.watch("", 0)
	snap := w.response(5 * time.Second)
	checkEvents(t, snap.Events, "JOIN web/a")
	rev := snap.Events[0].Revision
	if listed := h.list("").Revision; rev == 0 || rev > listed {
		t.Fatalf("snapshot revision %d, list revision %d", rev, listed)
	}
	checkEvents(t, all.response(5*time.Second).Events, "JOIN api/x", "JOIN web/a")

	h.register(member("web", "b", 80), 30*time.Second)
	b := member("web", "b", 80)
	b.Labels = map[string]string{"version": "2"}
	h.register(b, 30*time.Second)
	h.register(member("api", "y", 80), 30*time.Second) // other service: not on w
	if _, err := h.api.Deregister(h.ctx(), &membershipv1.DeregisterRequest{Service: "web", Id: "a"}); err != nil {
		t.Fatal(err)
	}
	h.register(member("web", "c", 80), time.Second) // never renewed

	evs := w.events(5, 5*time.Second)
	checkEvents(t, evs, "JOIN web/b", "UPDATE web/b", "LEAVE web/a", "JOIN web/c", "LEAVE web/c")
	if evs[1].Member.Labels["version"] != "2" || evs[1].Member.Address != "10.0.0.1" {
		t.Fatalf("UPDATE carries %v", evs[1].Member)
	}
	if m := evs[2].Member; m.Address != "" || m.Port != 0 || m.LeaseId != 0 {
		t.Fatalf("LEAVE carries more than service and id: %v", m)
	}
	for i, e := range evs {
		if e.Revision <= rev {
			t.Fatalf("event %d (%s) revision %d not after %d", i, describe(evs[i:i+1]), e.Revision, rev)
		}
		rev = e.Revision
	}
	checkEvents(t, all.events(6, 5*time.Second), "JOIN web/b", "UPDATE web/b", "JOIN api/y", "LEAVE web/a", "JOIN web/c", "LEAVE web/c")
	w.quiet(200 * time.Millisecond)
}

func TestWatchResumesWithoutGaps(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.watch("web", 0)
	if snap := w.response(5 * time.Second); len(snap.Events) != 0 {
		t.Fatalf("empty registry snapshot: %s", describe(snap.Events))
	}
	h.register(member("web", "a", 80), 30*time.Second)
	h.register(member("web", "b", 80), 30*time.Second)
	evs := w.events(2, 5*time.Second)
	checkEvents(t, evs, "JOIN web/a", "JOIN web/b")
	last := evs[1].Revision
	w.cancel()
	w.end(5 * time.Second)

	// Changes while nobody watches.
	h.register(member("web", "c", 80), 30*time.Second)
	if _, err := h.api.Deregister(h.ctx(), &membershipv1.DeregisterRequest{Service: "web", Id: "a"}); err != nil {
		t.Fatal(err)
	}
	h.register(member("web", "b", 81), 30*time.Second)

	w2 := h.watch("web", last)
	evs = w2.events(3, 5*time.Second)
	checkEvents(t, evs, "JOIN web/c", "LEAVE web/a", "UPDATE web/b")
	for i := 1; i < len(evs); i++ {
		if evs[i].Revision <= evs[i-1].Revision || evs[0].Revision <= last {
			t.Fatalf("revisions out of order: last %d, events %d %d %d", last, evs[0].Revision, evs[1].Revision, evs[2].Revision)
		}
	}
	// Resuming from the middle replays exactly the rest.
	w3 := h.watch("web", evs[0].Revision)
	checkEvents(t, w3.events(2, 5*time.Second), "LEAVE web/a", "UPDATE web/b")
	// And the stream goes on live.
	h.register(member("web", "d", 80), 30*time.Second)
	checkEvents(t, w2.events(1, 5*time.Second), "JOIN web/d")
	checkEvents(t, w3.events(1, 5*time.Second), "JOIN web/d")
	w2.quiet(200 * time.Millisecond)
}

func TestWatchOutOfRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(member("web", "a", 80), 30*time.Second)
	old := h.list("").Revision
	h.register(member("web", "b", 80), 30*time.Second)
	h.register(member("web", "c", 80), 30*time.Second)
	cur := h.list("").Revision
	if _, err := h.cli.Compact(h.ctx(), cur); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		after int64
		want  string
	}{
		{"compacted", old, "compacted"},
		{"future", cur + 100, "ahead of etcd's revision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := h.watch("web", tc.after)
			st := wantCode(t, w.end(5*time.Second), codes.OutOfRange)
			if !strings.Contains(st.Message(), tc.want) || !strings.Contains(st.Message(), "after_revision=0") {
				t.Fatalf("message %q: want %q and how to resume", st.Message(), tc.want)
			}
		})
	}
	// From the compaction revision on, resuming still works.
	w := h.watch("web", cur)
	h.register(member("web", "d", 80), 30*time.Second)
	checkEvents(t, w.events(1, 5*time.Second), "JOIN web/d")
}

func TestWatchEndsWhenClientGoesAway(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.watch("", 0)
	w.response(5 * time.Second)
	waitMetric(t, h, "hindsight_membership_watch_streams", nil, 1)
	w.cancel()
	if err := w.end(5 * time.Second); status.Code(err) != codes.Canceled {
		t.Fatalf("client side: %v, want Canceled", err)
	}
	waitMetric(t, h, "hindsight_membership_watch_streams", nil, 0)
}
