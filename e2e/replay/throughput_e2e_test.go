package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/headless"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index/opensearch"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

// ceilingClients is how many _bulk requests the ceiling keeps in flight: as
// many as a replay's load workers (the service's default).
const ceilingClients = 4

// throughput measures, on the bulk dataset (150,000 events in 12 files), in
// one run on the same engines: OpenSearch's own _bulk ceiling with bodies
// built beforehand (no reading, no parsing), a replay into OpenSearch, a
// replay into the embedded index, and the time from Create to the first
// searchable event. The figures go to the log and to throughput.txt.
func (s *suite) throughput(t *testing.T) {
	ctx := context.Background()
	// The kill test's copy of the same data would share the node's caches.
	if _, err := s.cli.DeleteReplay(ctx, &replayv1.DeleteReplayRequest{Name: "bulk"}); err != nil {
		t.Fatal(err)
	}
	bodies, docs, raw := s.bulkBodies(t)
	ceiling := s.bulkCeiling(t, bodies)
	ceilingRate := float64(docs) / ceiling.Seconds()

	osRun := s.timeReplay(t, "bench-os", replayv1.Target_KIND_OPENSEARCH_INDEX)
	embRun := s.timeReplay(t, "bench-embedded", replayv1.Target_KIND_EMBEDDED)

	var report bytes.Buffer
	fmt.Fprintf(&report, "replay throughput, %d events (%.1f MB of NDJSON, %.1f MB gzip in %d files), 2 cores shared by OpenSearch, etcd, the replay service and the test\n",
		docs, mb(raw), mb(osRun.gzBytes), osRun.files)
	fmt.Fprintf(&report, "  OpenSearch _bulk ceiling (pre-built bodies of 1000, %d in flight): %8.0f events/s  %6.1f MB/s of NDJSON  (%s)\n",
		ceilingClients, ceilingRate, mb(raw)/ceiling.Seconds(), ceiling.Round(time.Millisecond))
	for _, r := range []replayRun{osRun, embRun} {
		rate := float64(r.events) / r.load.Seconds()
		fmt.Fprintf(&report, "  replay into %-22s %8.0f events/s  %6.1f MB/s of gzip read  (%s; create to first searchable event %s)",
			r.target+":", rate, mb(r.gzBytes)/r.load.Seconds(), r.load.Round(time.Millisecond), r.firstSearchable.Round(time.Millisecond))
		if r.target == "opensearch" {
			fmt.Fprintf(&report, "  = %.0f%% of the _bulk ceiling", 100*rate/ceilingRate)
		}
		report.WriteByte('\n')
	}
	t.Log("\n" + report.String())
	p := filepath.Join(headless.OutputDir(t), "throughput.txt")
	if err := os.WriteFile(p, report.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("figures: %s", p)
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// bulkBodies reads the bulk dataset's documents and builds _bulk bodies of
// 1000 documents with their ids, as the replay service sends them.
func (s *suite) bulkBodies(t *testing.T) (bodies [][]byte, docs, raw int64) {
	t.Helper()
	ctx := context.Background()
	src, err := source.OpenArchive(ctx, "file://"+s.archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	files, _, err := src.Plan(ctx, []string{"bulk"}, day2, day2.AddDate(0, 0, bulkDays))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	n := 0
	for _, f := range files {
		err := src.Read(ctx, f, func(r source.Record, _ int64) error {
			var d struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			}
			if err := json.Unmarshal(r.Doc, &d); err != nil {
				return err
			}
			fmt.Fprintf(&body, `{"index":{"_id":%q}}`+"\n", d.Event.ID)
			body.Write(r.Doc)
			body.WriteByte('\n')
			docs++
			raw += int64(len(r.Doc)) + 1
			if n++; n == 1000 {
				bodies = append(bodies, bytes.Clone(body.Bytes()))
				body.Reset()
				n = 0
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if body.Len() > 0 {
		bodies = append(bodies, body.Bytes())
	}
	return bodies, docs, raw
}

// bulkCeiling sends the bodies into a fresh index with a replay index's
// mapping, ceilingClients at a time, and returns how long it took.
func (s *suite) bulkCeiling(t *testing.T, bodies [][]byte) time.Duration {
	t.Helper()
	ctx := context.Background()
	b, err := opensearch.New(s.os.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(ctx, "ceiling"); err != nil {
		t.Fatal(err)
	}
	defer b.Drop(ctx, "ceiling")
	url := s.os.URL + "/" + opensearch.IndexName("ceiling") + "/_bulk"
	work := make(chan []byte)
	errs := make(chan error, ceilingClients)
	var wg sync.WaitGroup
	began := time.Now()
	for range ceilingClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				resp, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var out struct {
					Errors bool `json:"errors"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || out.Errors || resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("bulk: %s, errors %v, %v", resp.Status, out.Errors, err)
					return
				}
			}
		}()
	}
	for _, body := range bodies {
		work <- body
	}
	close(work)
	wg.Wait()
	took := time.Since(began)
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return took
}

type replayRun struct {
	target                string
	events, gzBytes       int64
	files                 int64
	load, firstSearchable time.Duration
}

// timeReplay replays the bulk dataset into a target and times it: from
// Create to the first event a search finds, and to READY.
func (s *suite) timeReplay(t *testing.T, name string, kind replayv1.Target_Kind) replayRun {
	t.Helper()
	ctx := context.Background()
	r := replayOf(name, day2, day2.AddDate(0, 0, bulkDays), "bulk")
	r.Target = &replayv1.Target{Kind: kind}
	began := time.Now()
	created := s.create(t, r)
	run := replayRun{target: "opensearch", gzBytes: created.GetEstimate().GetBytes(), files: created.GetEstimate().GetFiles()}
	if kind == replayv1.Target_KIND_EMBEDDED {
		run.target = "the embedded index"
	}
	for {
		resp, err := s.cli.Search(ctx, &replayv1.SearchRequest{Replay: name, PageSize: 1})
		if err == nil && resp.GetTotal() > 0 {
			run.firstSearchable = time.Since(began)
			break
		}
		if time.Since(began) > time.Minute {
			t.Fatalf("nothing searchable a minute after create: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := s.ready(t, name)
	run.load = time.Since(began)
	run.events = done.GetProgress().GetEventsLoaded()
	if run.events != int64(len(s.bulk)) {
		t.Fatalf("%s loaded %d events, want %d", name, run.events, len(s.bulk))
	}
	if _, err := s.cli.DeleteReplay(ctx, &replayv1.DeleteReplayRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	return run
}
