package replay

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index/opensearch"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
)

// TestTimeMachine runs the proofs in order on one set of engines.
func TestTimeMachine(t *testing.T) {
	s := newSuite(t)
	t.Run("DayTwoExactly", s.dayTwoExactly)
	t.Run("LegacyTree", s.legacyTree)
	t.Run("OverlappingIsolated", s.overlappingIsolated)
	t.Run("KilledMidLoadResumes", s.killedMidLoadResumes)
	t.Run("QueryMaxEventsExpiry", s.queryMaxEventsExpiry)
	t.Run("ContainerTarget", s.containerTarget)
	t.Run("WebPage", s.webPage)
	t.Run("Throughput", s.throughput)
}

// Proof 1: day 2 of one dataset, exactly, each event at its own time.
func (s *suite) dayTwoExactly(t *testing.T) {
	r := s.create(t, replayOf("day-two", day2, day3, "nginx.access"))
	if r.GetEstimate().GetEvents() != 4*perObject || r.GetEstimate().GetFiles() != 4 {
		t.Fatalf("estimate %v", r.GetEstimate())
	}
	r = s.ready(t, "day-two")
	want := replaytest.IDs(s.events, replaytest.In(day2, day3, "nginx.access"))
	got, times := s.searchIDs(t, &replayv1.SearchRequest{Replay: "day-two"})
	if join(got) != join(want) {
		t.Fatalf("replay holds %d events, want the %d of day 2", len(got), len(want))
	}
	for _, e := range s.events {
		if tm, ok := times[e.ID]; ok && !tm.Equal(e.Time) {
			t.Fatalf("event %s at %s, want its original @timestamp %s", e.ID, tm, e.Time)
		}
	}
	// OpenSearch itself: the alias holds exactly these, nothing of another day
	// or dataset.
	alias := opensearch.AliasName("day-two")
	if r.GetTarget().GetAddress() != alias || s.osCount(t, alias) != int64(len(want)) {
		t.Fatalf("address %q, %d documents under the alias", r.GetTarget().GetAddress(), s.osCount(t, alias))
	}
	_, out := s.osJSON(t, http.MethodPost, "/"+alias+"/_count", []byte(`{"query":{"bool":{"should":[
		{"bool":{"must_not":{"term":{"data_stream.dataset":"nginx.access"}}}},
		{"range":{"@timestamp":{"lt":"2026-03-02T00:00:00Z"}}},
		{"range":{"@timestamp":{"gte":"2026-03-03T00:00:00Z"}}}]}}}`))
	if out["count"].(float64) != 0 {
		t.Fatalf("%v events outside day 2 or of another dataset", out["count"])
	}
	t.Logf("day 2 of nginx.access: %d events, loaded at %.0f events/s", len(got), r.GetProgress().GetEventsPerSecond())
}

// Proof 1, legacy half: raw .gz files parsed with the router's parsers.
func (s *suite) legacyTree(t *testing.T) {
	r := replayOf("legacy", day2, day3, "error")
	r.Source = &replayv1.Source{Kind: replayv1.Source_KIND_LEGACY_TREE, PathTemplate: "{dataset}/{yyyy}/{mm}/{dd}/*.gz", Parser: &routingv1.Parser{}}
	s.create(t, r)
	s.ready(t, "legacy")
	got, times := s.searchIDs(t, &replayv1.SearchRequest{Replay: "legacy"})
	if len(got) != len(s.legacyTimes[1]) {
		t.Fatalf("%d events, want the %d lines of day 2", len(got), len(s.legacyTimes[1]))
	}
	want := map[time.Time]bool{}
	for _, tm := range s.legacyTimes[1] {
		want[tm] = true
	}
	for id, tm := range times {
		if !want[tm] {
			t.Fatalf("event %s at %s: not a time of day 2's lines", id, tm)
		}
	}
}

// Proof 2: overlapping replays are isolated; deleting one leaves the other.
func (s *suite) overlappingIsolated(t *testing.T) {
	s.create(t, replayOf("left", day1, day3, "app"))
	s.create(t, replayOf("right", day2, day4, "app"))
	s.ready(t, "left")
	s.ready(t, "right")
	wantL := replaytest.IDs(s.events, replaytest.In(day1, day3, "app"))
	wantR := replaytest.IDs(s.events, replaytest.In(day2, day4, "app"))
	if got, _ := s.searchIDs(t, &replayv1.SearchRequest{Replay: "left"}); join(got) != join(wantL) {
		t.Fatalf("left: %d events, want %d", len(got), len(wantL))
	}
	if got, _ := s.searchIDs(t, &replayv1.SearchRequest{Replay: "right"}); join(got) != join(wantR) {
		t.Fatalf("right: %d events, want %d", len(got), len(wantR))
	}
	if _, err := s.cli.DeleteReplay(context.Background(), &replayv1.DeleteReplayRequest{Name: "left"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.osJSON(t, http.MethodGet, "/"+opensearch.IndexName("left"), nil); code != http.StatusNotFound {
		t.Fatalf("left's index answers %d after delete", code)
	}
	if code, _ := s.osJSON(t, http.MethodGet, "/_alias/"+opensearch.AliasName("left"), nil); code != http.StatusNotFound {
		t.Fatalf("left's alias answers %d after delete", code)
	}
	if got, _ := s.searchIDs(t, &replayv1.SearchRequest{Replay: "right"}); join(got) != join(wantR) || s.osCount(t, opensearch.AliasName("right")) != int64(len(wantR)) {
		t.Fatalf("right changed after deleting left: %d events", len(got))
	}
}

// Proof 3: the service is SIGKILLed mid-load and restarted; the replay
// completes with exact counts and no duplicates. The bulk dataset's 12 files
// load 4 at a time: the kill lands after the first ones are recorded done.
func (s *suite) killedMidLoadResumes(t *testing.T) {
	total := int64(len(s.bulk))
	end := day2.AddDate(0, 0, bulkDays)
	s.create(t, replayOf("bulk", day2, end, "bulk"))
	mid := s.wait(t, "bulk", func(r *replayv1.Replay) bool { return r.GetProgress().GetFilesDone() >= 2 })
	s.kill(t)
	alias := opensearch.AliasName("bulk")
	atKill := s.osCount(t, alias)
	if atKill >= total {
		t.Fatalf("the load finished before the kill (%d documents)", atKill)
	}
	began := time.Now()
	s.restart(t)
	t.Logf("killed at %d/%d files with %d of %d documents in OpenSearch; restarted in %s",
		mid.GetProgress().GetFilesDone(), mid.GetProgress().GetFilesTotal(), atKill, total, time.Since(began).Round(time.Millisecond))
	resumed, err := s.cli.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.ready(t, "bulk")
	t.Logf("resumed with %d files already done; ready %s after the restart", resumed.GetProgress().GetFilesDone(), time.Since(began).Round(time.Millisecond))
	if p := r.GetProgress(); p.GetEventsLoaded() != total || p.GetEventsSkipped() != 0 || p.GetFilesDone() != p.GetFilesTotal() {
		t.Fatalf("after resume: %v, want %d events", p, total)
	}
	if n := s.osCount(t, alias); n != total {
		t.Fatalf("OpenSearch holds %d documents, want %d (no duplicates, none lost)", n, total)
	}
	resp, err := s.cli.Search(context.Background(), &replayv1.SearchRequest{Replay: "bulk", PageSize: 1})
	if err != nil || resp.GetTotal() != total {
		t.Fatalf("search total %d, %v", resp.GetTotal(), err)
	}
	// The other replays survived the restart untouched.
	if got, _ := s.searchIDs(t, &replayv1.SearchRequest{Replay: "right"}); len(got) == 0 {
		t.Fatal("replay right lost in the restart")
	}
}

// Proof 4: the query filter and max_events are exact; expiry deletes.
func (s *suite) queryMaxEventsExpiry(t *testing.T) {
	r := replayOf("errors-web", day1, day4, "app", "nginx.access")
	r.Query = `log.level:error AND service.name:web`
	s.create(t, r)
	want := replaytest.IDs(s.events, func(e replaytest.Event) bool { return e.Level == "error" && e.Service == "web" })
	got := s.ready(t, "errors-web")
	if ids, _ := s.searchIDs(t, &replayv1.SearchRequest{Replay: "errors-web"}); join(ids) != join(want) || len(want) == 0 {
		t.Fatalf("query replay: %d events, want %d", len(ids), len(want))
	}
	if got.GetProgress().GetEventsSkipped() != int64(len(s.events)-len(want)) {
		t.Fatalf("skipped %d, want %d", got.GetProgress().GetEventsSkipped(), len(s.events)-len(want))
	}

	capped := replayOf("capped", day1, day4, "app", "nginx.access")
	capped.Query = `NOT log.level:info`
	capped.MaxEvents = 123
	s.create(t, capped)
	s.ready(t, "capped")
	if n := s.osCount(t, opensearch.AliasName("capped")); n != 123 {
		t.Fatalf("max_events 123: OpenSearch holds %d", n)
	}
	resp, err := s.cli.Search(context.Background(), &replayv1.SearchRequest{Replay: "capped", Query: "log.level:info", PageSize: 1})
	if err != nil || resp.GetTotal() != 0 {
		t.Fatalf("info events in the capped replay: %d %v", resp.GetTotal(), err)
	}

	short := replayOf("short-lived", day2, day3, "app")
	short.Ttl = durationpb.New(3 * time.Second)
	created := s.create(t, short)
	s.ready(t, "short-lived")
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := s.cli.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: "short-lived"})
		if status.Code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not expired by %s: %v", created.GetExpireTime().AsTime(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _ := s.osJSON(t, http.MethodGet, "/"+opensearch.IndexName("short-lived"), nil); code != http.StatusNotFound {
		t.Fatalf("expired replay's index answers %d", code)
	}
}
