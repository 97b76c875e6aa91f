package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

func TestReplayOneDayExactly(t *testing.T) {
	en := newEnv(t, nil)
	all := writeArchive(t, en.archiveDir, 50)
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)

	// The creator is the authenticated principal; what the client says
	// about itself in metadata is ignored.
	alice := auth.NewContext(context.Background(), auth.Principal{Name: "alice", Role: auth.Operator})
	ctx := metadata.NewIncomingContext(alice, metadata.Pairs("x-hindsight-user", "mallory", "x-forwarded-user", "mallory"))
	r, err := en.svc.CreateReplay(ctx, &replayv1.CreateReplayRequest{Replay: replayOf("day-two", day2, day3, "nginx.access")})
	if err != nil {
		t.Fatal(err)
	}
	// The estimate comes from the manifests before anything is loaded.
	if e := r.GetEstimate(); e.GetFiles() != 4 || e.GetEvents() != 200 || e.GetBytes() <= 0 {
		t.Fatalf("estimate %v, want 4 files and 200 events", e)
	}
	if r.GetCreator() != "alice" || r.GetExpireTime().AsTime().Sub(r.GetCreateTime().AsTime()) != DefaultTTL {
		t.Fatalf("creator %q, ttl %s", r.GetCreator(), r.GetExpireTime().AsTime().Sub(r.GetCreateTime().AsTime()))
	}
	if !strings.HasPrefix(r.GetSearchUrl(), "/search?") || !strings.Contains(r.GetSearchUrl(), "replay=day-two") {
		t.Fatalf("search url %q", r.GetSearchUrl())
	}
	r = en.ready("day-two")
	p := r.GetProgress()
	if p.GetEventsLoaded() != 200 || p.GetFilesDone() != 4 || p.GetFilesTotal() != 4 || p.GetBytesDone() != p.GetBytesTotal() {
		t.Fatalf("progress %v", p)
	}
	if r.GetTarget().GetAddress() != filepath.Join(en.indexDir, "day-two") {
		t.Fatalf("target address %q", r.GetTarget().GetAddress())
	}

	got := en.searchAll(&replayv1.SearchRequest{Replay: "day-two"})
	want := replaytest.IDs(all, func(g replaytest.Event) bool {
		return g.Dataset == "nginx.access" && !g.Time.Before(day2) && g.Time.Before(day3)
	})
	if g := ids(t, got); strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d events, want the %d of day 2", len(g), len(want))
	}
	byID := map[string]replaytest.Event{}
	for _, g := range all {
		byID[g.ID] = g
	}
	for i, e := range got {
		g := byID[e.GetId()]
		if !e.GetTimestamp().AsTime().Equal(g.Time) || e.GetDataset() != "nginx.access" {
			t.Fatalf("event %s at %s (%s), want its original time %s", e.GetId(), e.GetTimestamp().AsTime(), e.GetDataset(), g.Time)
		}
		if i > 0 && e.GetTimestamp().AsTime().Before(got[i-1].GetTimestamp().AsTime()) {
			t.Fatal("oldest-first search out of order")
		}
	}
	// Even a search asking for more than the replay holds finds no other day
	// or dataset.
	resp, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "day-two", From: r.From, To: r.To, Datasets: []string{"app"}})
	if err != nil || resp.GetTotal() != 0 {
		t.Fatalf("app events in a nginx.access replay: %v %v", resp.GetTotal(), err)
	}
	// The histogram covers the day in about 60 round buckets summing to all.
	resp, err = en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "day-two", PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range resp.GetHistogram() {
		sum += b.GetCount()
	}
	if n := len(resp.GetHistogram()); n < 40 || n > 80 || sum != 200 || len(resp.GetEvents()) != 5 || resp.GetNextPageToken() == "" {
		t.Fatalf("histogram of %d buckets summing to %d, %d events, token %q", n, sum, len(resp.GetEvents()), resp.GetNextPageToken())
	}
	// Newest first by default.
	if first := resp.GetEvents()[0].GetTimestamp().AsTime(); !first.Equal(got[len(got)-1].GetTimestamp().AsTime()) {
		t.Fatalf("newest first: got %s", first)
	}

	// Only its creator or an admin deletes it: another operator (even one
	// claiming to be alice in metadata) is refused and the replay stays.
	bob := metadata.NewIncomingContext(auth.NewContext(context.Background(), auth.Principal{Name: "bob", Role: auth.Operator}),
		metadata.Pairs("x-hindsight-user", "alice"))
	if _, err := en.svc.DeleteReplay(bob, &replayv1.DeleteReplayRequest{Name: "day-two"}); code(err) != codes.PermissionDenied {
		t.Fatalf("bob deleting alice's replay: %v, want PermissionDenied", err)
	}
	if r, err := en.svc.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: "day-two"}); err != nil || r.GetState() != replayv1.State_STATE_READY {
		t.Fatalf("after a refused delete: %v %v, want it still ready", r.GetState(), err)
	}
	if n := len(en.searchAll(&replayv1.SearchRequest{Replay: "day-two"})); n != 200 {
		t.Fatalf("after a refused delete: %d events, want 200", n)
	}
	root := auth.NewContext(context.Background(), auth.Principal{Name: "root", Role: auth.Admin})
	if _, err := en.svc.DeleteReplay(root, &replayv1.DeleteReplayRequest{Name: "day-two"}); err != nil {
		t.Fatalf("an admin deleting alice's replay: %v", err)
	}
}

func TestLegacyTree(t *testing.T) {
	en := newEnv(t, nil)
	times := writeLegacy(t, en.legacyDir, 30)
	day2 := day1.AddDate(0, 0, 1)
	r := replayOf("legacy", day2, day2.AddDate(0, 0, 1), "error")
	r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE, PathTemplate: "{dataset}/{yyyy}/{mm}/{dd}/*.gz", Parser: &routingv1.Parser{}}
	got := en.create(r)
	if got.GetEstimate().GetFiles() != 2 || got.GetEstimate().GetEvents() != -1 {
		t.Fatalf("estimate %v", got.GetEstimate())
	}
	en.ready("legacy")
	evs := en.searchAll(&replayv1.SearchRequest{Replay: "legacy"})
	if len(evs) != len(times[1]) {
		t.Fatalf("%d events, want %d", len(evs), len(times[1]))
	}
	first := ids(t, evs)
	for i, e := range evs {
		if !e.GetTimestamp().AsTime().Equal(times[1][i]) || e.GetDataset() != "error" || !strings.Contains(e.GetMessage(), "connection reset") {
			t.Fatalf("event %d: %s %q, want time %s", i, e.GetTimestamp().AsTime(), e.GetMessage(), times[1][i])
		}
	}
	// Re-running the same replay yields the same ids: they derive from the
	// tree, the file and the offset.
	if _, err := en.svc.DeleteReplay(context.Background(), &replayv1.DeleteReplayRequest{Name: "legacy"}); err != nil {
		t.Fatal(err)
	}
	en.create(r)
	en.ready("legacy")
	if again := ids(t, en.searchAll(&replayv1.SearchRequest{Replay: "legacy"})); strings.Join(again, ",") != strings.Join(first, ",") {
		t.Fatal("re-run produced other ids")
	}
}

func TestOverlappingReplaysAreIsolated(t *testing.T) {
	en := newEnv(t, nil)
	all := writeArchive(t, en.archiveDir, 20)
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	en.create(replayOf("a", day1, day3, "app"))
	en.create(replayOf("b", day2, day3.AddDate(0, 0, 1), "app", "nginx.access"))
	en.ready("a")
	en.ready("b")
	wantA := replaytest.IDs(all, replaytest.In(day1, day3, "app"))
	wantB := replaytest.IDs(all, replaytest.In(day2, day3.AddDate(0, 0, 1), "app", "nginx.access"))
	if got := ids(t, en.searchAll(&replayv1.SearchRequest{Replay: "a"})); strings.Join(got, ",") != strings.Join(wantA, ",") {
		t.Fatalf("a: %d events, want %d", len(got), len(wantA))
	}
	if _, err := en.svc.DeleteReplay(context.Background(), &replayv1.DeleteReplayRequest{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, en.searchAll(&replayv1.SearchRequest{Replay: "b"})); strings.Join(got, ",") != strings.Join(wantB, ",") {
		t.Fatalf("b after deleting a: %d events, want %d", len(got), len(wantB))
	}
	if _, err := os.Stat(filepath.Join(en.indexDir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a's index still on disk: %v", err)
	}
	if _, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "a"}); code(err) != codes.NotFound {
		t.Fatalf("search of a deleted replay: %v", err)
	}
	list, err := en.svc.ListReplays(context.Background(), &replayv1.ListReplaysRequest{})
	if err != nil || len(list.GetReplays()) != 1 || list.GetReplays()[0].GetName() != "b" {
		t.Fatalf("list: %v %v", list, err)
	}
}

func TestKilledMidLoadResumes(t *testing.T) {
	var en *env
	en = newEnv(t, func(c *Config) { c.Batch = 10; c.Workers = 2 })
	all := writeArchive(t, en.archiveDir, 60)
	// Restart with slow puts so the load is still running when it is cut off.
	en.stopService()
	en.putDelay = 30 * time.Millisecond
	en.startService()

	en.create(replayOf("resume", day1, day1.AddDate(0, 0, 3), "app", "nginx.access"))
	mid := en.wait("resume", func(r *replayv1.Replay) bool {
		return r.GetProgress().GetFilesDone() >= 4 && r.GetProgress().GetEventsLoaded() > 0
	})
	if mid.GetProgress().GetFilesDone() >= mid.GetProgress().GetFilesTotal() {
		t.Fatal("load finished before it could be cut off")
	}
	en.stopService()
	saved := en.etcdReplay("resume")
	if saved.GetState() != replayv1.State_STATE_LOADING {
		t.Fatalf("state after the kill: %s", saved.GetState())
	}
	t.Logf("killed at %d/%d files, %d events", mid.GetProgress().GetFilesDone(), mid.GetProgress().GetFilesTotal(), mid.GetProgress().GetEventsLoaded())

	en.putDelay = 0
	en.startService()
	r := en.ready("resume")
	if r.GetProgress().GetEventsLoaded() != int64(len(all)) || r.GetProgress().GetEventsSkipped() != 0 || r.GetProgress().GetFilesDone() != 24 {
		t.Fatalf("progress after resume %v, want %d events", r.GetProgress(), len(all))
	}
	got := ids(t, en.searchAll(&replayv1.SearchRequest{Replay: "resume"}))
	if want := replaytest.IDs(all, func(replaytest.Event) bool { return true }); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d events after resume, want %d", len(got), len(want))
	}
}

func (en *env) etcdReplay(name string) *replayv1.Replay {
	en.t.Helper()
	s := &store{cli: en.etcd.Client(), prefix: DefaultPrefix}
	r, err := s.get(context.Background(), name)
	if err != nil {
		en.t.Fatal(err)
	}
	return r
}

func TestQueryAndMaxEvents(t *testing.T) {
	en := newEnv(t, func(c *Config) { c.Batch = 7 })
	all := writeArchive(t, en.archiveDir, 25)
	from, to := day1, day1.AddDate(0, 0, 3)
	r := replayOf("errors", from, to, "app")
	r.Query = `log.level:error AND service.name:web`
	en.create(r)
	want := replaytest.IDs(all, func(g replaytest.Event) bool { return g.Dataset == "app" && g.Level == "error" && g.Service == "web" })
	got := en.ready("errors")
	if got.GetProgress().GetEventsLoaded() != int64(len(want)) || got.GetProgress().GetEventsSkipped() != 300-int64(len(want)) {
		t.Fatalf("progress %v, want %d loaded", got.GetProgress(), len(want))
	}
	if g := ids(t, en.searchAll(&replayv1.SearchRequest{Replay: "errors"})); strings.Join(g, ",") != strings.Join(want, ",") || len(want) == 0 {
		t.Fatalf("%d events, want %d", len(g), len(want))
	}

	capped := replayOf("capped", from, to, "app", "nginx.access")
	capped.Query = `NOT log.level:info`
	capped.MaxEvents = 37
	en.create(capped)
	en.ready("capped")
	evs := en.searchAll(&replayv1.SearchRequest{Replay: "capped"})
	if len(evs) != 37 {
		t.Fatalf("max_events 37: %d events", len(evs))
	}
	for _, e := range evs {
		if e.GetLevel() == "info" {
			t.Fatalf("event %s does not match the query", e.GetId())
		}
	}
	// Searches take the same language.
	resp, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "errors", Query: `"served by web" AND message:item`})
	if err != nil || resp.GetTotal() != int64(len(want)) {
		t.Fatalf("phrase search: %d, %v", resp.GetTotal(), err)
	}
	resp, err = en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "capped", Query: `log.level:warn OR log.level:error`})
	if err != nil || resp.GetTotal() != 37 {
		t.Fatalf("or search: %d, %v", resp.GetTotal(), err)
	}
}

func TestExpiryDeletes(t *testing.T) {
	en := newEnv(t, nil)
	writeArchive(t, en.archiveDir, 5)
	r := replayOf("short", day1, day1.AddDate(0, 0, 1), "app")
	r.Ttl = durationpb.New(time.Hour)
	en.create(r)
	en.ready("short")
	later := en.now.Load().Add(2 * time.Hour)
	en.now.Store(&later)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := en.svc.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: "short"})
		if code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay not expired: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(en.indexDir, "short")); !os.IsNotExist(err) {
		t.Fatalf("expired replay's index still on disk: %v", err)
	}
}

func TestLimits(t *testing.T) {
	en := newEnv(t, func(c *Config) { c.MaxConcurrent = 1; c.MaxEventsTotal = 500 })
	writeArchive(t, en.archiveDir, 50)
	en.stopService()
	en.putDelay = 200 * time.Millisecond
	en.startService()
	en.create(replayOf("one", day1, day1.AddDate(0, 0, 1), "app"))
	_, err := en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: replayOf("two", day1, day1.AddDate(0, 0, 1), "nginx.access")})
	if code(err) != codes.ResourceExhausted {
		t.Fatalf("second concurrent replay: %v", err)
	}
	en.ready("one")
	// 200 loaded + 400 estimated > 500.
	_, err = en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: replayOf("big", day1, day1.AddDate(0, 0, 2), "nginx.access")})
	if code(err) != codes.ResourceExhausted {
		t.Fatalf("replay over the total event limit: %v", err)
	}
	capped := replayOf("small", day1, day1.AddDate(0, 0, 2), "nginx.access")
	capped.MaxEvents = 300
	en.create(capped)
	legacy := replayOf("legacy", day1, day1.AddDate(0, 0, 1), "error")
	legacy.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE}
	_, err = en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: legacy})
	if code(err) != codes.ResourceExhausted && code(err) != codes.InvalidArgument {
		t.Fatalf("uncapped legacy replay under a total limit: %v", err)
	}
}

func TestValidation(t *testing.T) {
	en := newEnv(t, nil)
	writeArchive(t, en.archiveDir, 2)
	ok := func() *replayv1.Replay { return replayOf("ok", day1, day1.AddDate(0, 0, 1), "app") }
	for _, c := range []struct {
		name   string
		change func(r *replayv1.Replay)
		field  string
	}{
		{"name not a DNS label", func(r *replayv1.Replay) { r.Name = "Bad_Name" }, "replay.name"},
		{"name too long", func(r *replayv1.Replay) { r.Name = strings.Repeat("a", 64) }, "replay.name"},
		{"no dataset", func(r *replayv1.Replay) { r.Datasets = nil }, "replay.datasets"},
		{"unknown dataset", func(r *replayv1.Replay) { r.Datasets = []string{"app", "nope"} }, "replay.datasets[1]"},
		{"bad dataset name", func(r *replayv1.Replay) { r.Datasets = []string{"../etc"} }, "replay.datasets[0]"},
		{"empty range", func(r *replayv1.Replay) { r.To = r.From }, "replay.to"},
		{"range too long", func(r *replayv1.Replay) { r.To = replayOf("", day1.AddDate(0, 0, 94), day1.AddDate(0, 0, 94)).To }, "replay.to"},
		{"no from", func(r *replayv1.Replay) { r.From = nil }, "replay.from"},
		{"bad query", func(r *replayv1.Replay) { r.Query = `level:(error OR` }, "replay.query"},
		{"negative max_events", func(r *replayv1.Replay) { r.MaxEvents = -1 }, "replay.max_events"},
		{"ttl too short", func(r *replayv1.Replay) { r.Ttl = durationpb.New(time.Second) }, "replay.ttl"},
		{"ttl too long", func(r *replayv1.Replay) { r.Ttl = durationpb.New(365 * 24 * time.Hour) }, "replay.ttl"},
		{"foreign source", func(r *replayv1.Replay) { r.Source = &replayv1.Source{Url: "file:///etc"} }, "replay.source.url"},
		{"bad template", func(r *replayv1.Replay) {
			r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE, PathTemplate: "{dataset}/*/x.gz"}
		}, "replay.source.path_template"},
		{"bad parser", func(r *replayv1.Replay) {
			r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE, Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX}}
		}, "replay.source.parser.pattern"},
		{"unavailable target", func(r *replayv1.Replay) {
			r.Target = &replayv1.Target{Kind: replayv1.Target_KIND_OPENSEARCH_INDEX}
		}, "replay.target.kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok()
			c.change(r)
			_, err := en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: r})
			if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.field+":") {
				t.Fatalf("got %v, want InvalidArgument naming %s", err, c.field)
			}
		})
	}
	en.create(ok())
	if _, err := en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: ok()}); code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate name: %v", err)
	}
	est, err := en.svc.EstimateReplay(context.Background(), &replayv1.EstimateReplayRequest{Replay: ok()})
	if err != nil || est.GetFiles() != 4 || est.GetEvents() != 8 {
		t.Fatalf("estimate %v %v", est, err)
	}
	if _, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Replay: "ok", Query: "a AND"}); code(err) != codes.InvalidArgument {
		t.Fatalf("bad search query: %v", err)
	}
	if _, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Query: "x"}); code(err) != codes.FailedPrecondition {
		t.Fatalf("live search without OpenSearch: %v", err)
	}
}

// Replays are counted per creator and in total, in any state: a refused
// create leaves nothing behind.
func TestReplayCountLimits(t *testing.T) {
	en := newEnv(t, func(c *Config) { c.MaxReplays = 3; c.MaxPerCreator = 2 })
	writeArchive(t, en.archiveDir, 2)
	as := func(name string) context.Context {
		return auth.NewContext(context.Background(), auth.Principal{Name: name, Role: auth.Operator})
	}
	create := func(who, name string) error {
		_, err := en.svc.CreateReplay(as(who), &replayv1.CreateReplayRequest{Replay: replayOf(name, day1, day1.AddDate(0, 0, 1), "app")})
		return err
	}
	for _, c := range []struct{ who, name string }{{"alice", "a1"}, {"alice", "a2"}, {"bob", "b1"}} {
		if err := create(c.who, c.name); err != nil {
			t.Fatalf("%s creates %s: %v", c.who, c.name, err)
		}
		en.ready(c.name)
	}
	if err := create("alice", "a3"); code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "per creator") {
		t.Fatalf("alice's third replay: %v, want ResourceExhausted per creator", err)
	}
	if err := create("carol", "c1"); code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "3 replays exist") {
		t.Fatalf("a fourth replay: %v, want ResourceExhausted for the total", err)
	}
	list, err := en.svc.ListReplays(as("alice"), &replayv1.ListReplaysRequest{})
	if err != nil || len(list.GetReplays()) != 3 {
		t.Fatalf("after the refusals: %d replays (%v), want 3", len(list.GetReplays()), err)
	}
	if _, err := en.svc.DeleteReplay(as("alice"), &replayv1.DeleteReplayRequest{Name: "a1"}); err != nil {
		t.Fatal(err)
	}
	if err := create("alice", "a3"); err != nil {
		t.Fatalf("alice's replay after deleting one: %v", err)
	}
}

// A legacy line longer than the cap is cut to source.MaxLineBytes, and the
// event made of it still fits the index: the replay is ready with it and the
// lines after it (a 1 MiB cut made a 3 MiB row the embedded index refused,
// failing the replay).
func TestLegacyLongLineLoads(t *testing.T) {
	en := newEnv(t, nil)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	fmt.Fprintf(zw, "%s\nafter the long line\n", strings.Repeat("x", 8<<20))
	zw.Close()
	p := filepath.Join(en.legacyDir, "error", day1.Format("2006/01/02"), "long.gz")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := replayOf("long", day1, day1.AddDate(0, 0, 1), "error")
	r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE}
	en.create(r)
	en.ready("long")
	evs := en.searchAll(&replayv1.SearchRequest{Replay: "long"})
	var lens []int
	next := false
	for _, e := range evs {
		lens = append(lens, len(e.GetMessage()))
		next = next || e.GetMessage() == "after the long line"
	}
	if len(evs) != 2 || !slices.Contains(lens, source.MaxLineBytes) || !next {
		t.Fatalf("messages of %v bytes, want the cut line of %d bytes and the next line", lens, source.MaxLineBytes)
	}
}
