package harvester

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/fingerprint"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routers"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

func sourceKey(l *routingv1.RawLine) string {
	return fmt.Sprintf("%s/%d", l.Source.GetFileId(), l.Source.GetOffset())
}

// Killed mid-stream: the router acknowledged some batches and holds the rest;
// the agent dies with only its registry file left (as after SIGKILL). The next
// run resends from the registry: over both runs every line is acknowledged
// exactly once, and the only lines sent twice are those of batches the first
// run never saw acknowledged.
func TestRestartResumesFromRegistry(t *testing.T) {
	dir := t.TempDir()
	r1 := routertest.Start(t)
	const acked = 10 // batches of 50 lines
	r1.StallAfter(acked)
	cfg := testConfig(dir, r1.Addr())
	cfg.DrainTimeout = 10 * time.Millisecond
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 5000)
	data, _ := os.ReadFile(path)
	id := fingerprint.ID(data[:testFingerprint])

	run1 := start(t, cfg)
	r1.WaitAckedLines(t, acked*50, 10*time.Second)
	r1.WaitReceivedLines(t, (acked+cfg.Window)*50, 10*time.Second)
	ackedEnd := int64(len(lineRange("a", 1, acked*50)[0])+1) * acked * 50
	polltest.True(t, "the acks to reach the registry file", 10*time.Second, func() bool {
		return loadRegistry(t, cfg)[id].Offset == ackedEnd
	})
	killed, err := os.ReadFile(cfg.Registry) // the registry as SIGKILL would leave it
	if err != nil {
		t.Fatal(err)
	}
	run1.stop(t)
	os.WriteFile(cfg.Registry, killed, 0o644)

	r2 := routertest.Start(t)
	cfg.Routers = []string{r2.Addr()}
	start(t, cfg)
	exactlyOnce(t, lineRange("a", 1, 5000), r1, r2)

	ackedFirst := map[string]bool{}
	for _, l := range r1.AckedLines() {
		ackedFirst[sourceKey(l)] = true
	}
	sentFirst := map[string]bool{}
	for _, b := range r1.Received() {
		for _, l := range lineblock.Lines(b) {
			sentFirst[sourceKey(l)] = true
		}
	}
	resent := 0
	for _, b := range r2.Received() {
		for _, l := range lineblock.Lines(b) {
			if l.Source.Offset < ackedEnd || ackedFirst[sourceKey(l)] {
				t.Fatalf("line %q was acknowledged before the kill and sent again", l.Line)
			}
			if sentFirst[sourceKey(l)] {
				resent++
			}
		}
	}
	t.Logf("%d lines acknowledged before the kill, %d sent but unacknowledged then resent", len(ackedFirst), resent)
	if resent == 0 {
		t.Fatal("the kill left nothing unacknowledged: the test proves nothing")
	}
}

// Backpressure: while the router does not acknowledge, at most Window
// batches are in flight and reading stops right behind them (the files are
// the buffer); when it resumes, everything arrives once.
func TestBackpressurePausesReading(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	r.Stall()
	cfg := testConfig(dir, r.Addr())
	cfg.Window = 2
	cfg.Batch.MaxLines = 10
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 20000)
	run := start(t, cfg)
	r.WaitReceivedLines(t, 20, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	m := run.h.m
	// Window batches sent, a third one full and waiting for a slot.
	if n := testutil.ToFloat64(m.linesRead.WithLabelValues("app")); n > float64((cfg.Window+1)*cfg.Batch.MaxLines) {
		t.Fatalf("%v lines read while the router stalls: reading did not pause", n)
	}
	if n := r.ReceivedLineCount(); n != cfg.Window*cfg.Batch.MaxLines {
		t.Fatalf("router received %d lines, want the window's %d", n, cfg.Window*cfg.Batch.MaxLines)
	}
	if n := testutil.ToFloat64(m.inFlight.WithLabelValues("app")); n != float64(cfg.Window) {
		t.Fatalf("in-flight gauge %v", n)
	}
	r.Resume()
	exactlyOnce(t, lineRange("a", 1, 20000), r)
}

// The router is down when the agent starts and goes down again mid-stream
// with batches unacknowledged: the agent backs off, reconnects, resends, and
// nothing is lost or acknowledged twice.
func TestRouterDownThenUp(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	r.Stop()
	cfg := testConfig(dir, r.Addr())
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 1000)
	run := start(t, cfg)
	time.Sleep(300 * time.Millisecond)
	r.Restart()
	r.WaitAckedLines(t, 1000, 10*time.Second)

	r.Stall()
	appendLines(t, path, "a", 1001, 2000)
	r.WaitReceivedLines(t, 1000+cfg.Window*cfg.Batch.MaxLines, 10*time.Second)
	r.Stop() // held batches die unacknowledged
	time.Sleep(200 * time.Millisecond)
	r.Resume()
	r.Restart()
	exactlyOnce(t, lineRange("a", 1, 2000), r)
	m := run.h.m
	if testutil.ToFloat64(m.reconnects.WithLabelValues("app")) < 2 || testutil.ToFloat64(m.batchesResent.WithLabelValues("app")) == 0 {
		t.Fatalf("reconnects %v, resent %v", testutil.ToFloat64(m.reconnects.WithLabelValues("app")),
			testutil.ToFloat64(m.batchesResent.WithLabelValues("app")))
	}
}

// Two routers: each input sticks to its preferred one; when that one dies
// with batches in flight, they go to the other and nothing is lost.
func TestFailoverToAnotherRouter(t *testing.T) {
	dir := t.TempDir()
	a, b := routertest.Start(t), routertest.Start(t)
	byAddr := map[string]*routertest.Router{a.Addr(): a, b.Addr(): b}
	order := routers.Order("app", []string{a.Addr(), b.Addr()})
	first, second := byAddr[order[0]], byAddr[order[1]]
	cfg := testConfig(dir, a.Addr(), b.Addr())
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 500)
	start(t, cfg)
	first.WaitAckedLines(t, 500, 10*time.Second)
	if second.ReceivedLineCount() != 0 {
		t.Fatal("the input did not stick to one router")
	}
	first.Stall()
	appendLines(t, path, "a", 501, 1000)
	first.WaitReceivedLines(t, 600, 10*time.Second)
	first.Stop()
	exactlyOnce(t, lineRange("a", 1, 1000), first, second)
	if second.AckedLineCount() == 0 {
		t.Fatal("nothing failed over")
	}
}

// fakeMembership lists one healthy router and then watches quietly.
type fakeMembership struct {
	membershipv1.UnimplementedMembershipServiceServer
	router string
}

func (f *fakeMembership) ListMembers(_ context.Context, req *membershipv1.ListMembersRequest) (*membershipv1.ListMembersResponse, error) {
	host, port, _ := net.SplitHostPort(f.router)
	var p int32
	fmt.Sscan(port, &p)
	if req.Service != "router" {
		return &membershipv1.ListMembersResponse{}, nil
	}
	return &membershipv1.ListMembersResponse{Revision: 1, Members: []*membershipv1.Member{
		{Service: "router", Id: "r1", Address: host, Port: p, Health: membershipv1.Health_HEALTH_HEALTHY},
	}}, nil
}

func (f *fakeMembership) Watch(_ *membershipv1.WatchRequest, s grpc.ServerStreamingServer[membershipv1.WatchResponse]) error {
	<-s.Context().Done()
	return nil
}

// With a membership service, the routers are its healthy router members;
// the static list (here a dead address) is only the fallback.
func TestRoutersFromMembership(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	membershipv1.RegisterMembershipServiceServer(srv, &fakeMembership{router: r.Addr()})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cfg := testConfig(dir, "127.0.0.1:1")
	cfg.Membership = lis.Addr().String()
	appendLines(t, filepath.Join(dir, "logs", "app.log"), "a", 1, 100)
	start(t, cfg)
	exactlyOnce(t, lineRange("a", 1, 100), r)
}
