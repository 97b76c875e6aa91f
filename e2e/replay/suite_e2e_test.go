// Package replay is the time machine's end-to-end suite: the replay image
// against a real OpenSearch and etcd (testcontainers), fed from an archive
// written in its layout and a legacy tree of raw .gz files, with the web page
// driven in headless Chromium and the throughput measured against
// OpenSearch's own _bulk ceiling.
package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Sizes of the generated data.
const (
	perObject     = 100    // small datasets: 400 events a day each
	bulkPerObject = 12_500 // the bulk dataset: 50,000 events a day, days 2 to 4
	bulkDays      = 3
	legacyPerFile = 240
)

var (
	day1 = replaytest.Day1
	day2 = day1.AddDate(0, 0, 1)
	day3 = day1.AddDate(0, 0, 2)
	day4 = day1.AddDate(0, 0, 3)
)

// suite is one set of engines and data shared by the subtests.
type suite struct {
	top         *testing.T // the whole run's, for cleanups that outlive a subtest
	nw          *testcontainers.DockerNetwork
	os          *harness.OpenSearch
	etcd        *harness.Etcd
	archiveDir  string
	legacyDir   string
	events      []replaytest.Event // nginx.access and app, three days
	bulk        []replaytest.Event // bulk, days 2 to 4
	legacyTimes map[int][]time.Time
	replay      testcontainers.Container
	grpcAddr    string
	cli         replayv1.ReplayServiceClient
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	s := &suite{top: t, archiveDir: harness.HostDir(t, "archive"), legacyDir: harness.HostDir(t, "legacy")}
	var err error
	began := time.Now()
	if s.events, err = replaytest.WriteArchive(s.archiveDir, day1, 3, []string{"nginx.access", "app"}, perObject); err != nil {
		t.Fatal(err)
	}
	if s.bulk, err = replaytest.WriteArchive(s.archiveDir, day2, bulkDays, []string{"bulk"}, bulkPerObject); err != nil {
		t.Fatal(err)
	}
	if s.legacyTimes, err = replaytest.WriteLegacy(s.legacyDir, "error", 3, 3, legacyPerFile); err != nil {
		t.Fatal(err)
	}
	t.Logf("archive and legacy tree written in %s", time.Since(began).Round(time.Millisecond))
	s.nw = harness.Network(t)
	s.etcd = harness.StartEtcd(t, s.nw)
	s.os = harness.StartOpenSearch(t, s.nw)
	s.startReplay(t)
	return s
}

// startReplay starts the replay image: OpenSearch its default target, the
// archive and the legacy tree mounted read-only.
func (s *suite) startReplay(t *testing.T) {
	t.Helper()
	s.replay = harness.Start(t, s.nw, []string{"replay"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/replay_image.tar"),
		ExposedPorts: []string{"9201/tcp", "9202/tcp"},
		Env: map[string]string{
			"HINDSIGHT_ETCD_ENDPOINTS":  s.etcd.NetworkEndpoint,
			"HINDSIGHT_OPENSEARCH_URL":  s.os.NetworkURL,
			"HINDSIGHT_TARGET":          "opensearch",
			"HINDSIGHT_ARCHIVE_URL":     "file:///archive",
			"HINDSIGHT_LEGACY_URL":      "file:///legacy",
			"HINDSIGHT_MIN_TTL":         "1s",
			"HINDSIGHT_EXPIRY_INTERVAL": "1s",
			"HINDSIGHT_MAX_CONCURRENT":  "8",
			"HINDSIGHT_LOG_FORMAT":      "text",
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, s.archiveDir+":/archive:ro", s.legacyDir+":/legacy:ro")
		},
		WaitingFor: wait.ForHTTP("/readyz").WithPort("9202/tcp").WithStartupTimeout(60 * time.Second),
	})
	s.connect(t)
}

// connect dials the replay container's gRPC port (mapped anew after a restart).
func (s *suite) connect(t *testing.T) {
	t.Helper()
	addr, err := s.replay.PortEndpoint(context.Background(), "9201/tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), harness.GRPCCredentials(t))
	if err != nil {
		t.Fatal(err)
	}
	s.top.Cleanup(func() { conn.Close() })
	s.grpcAddr, s.cli = addr, replayv1.NewReplayServiceClient(conn)
}

// kill SIGKILLs the replay container.
func (s *suite) kill(t *testing.T) {
	t.Helper()
	cli, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cli.ContainerKill(ctx, s.replay.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("kill replay: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.replay.State(ctx)
		if err == nil && !st.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay still running after SIGKILL: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart starts the killed replay container again.
func (s *suite) restart(t *testing.T) {
	t.Helper()
	if err := s.replay.Start(context.Background()); err != nil {
		t.Fatalf("restart replay: %v", err)
	}
	s.connect(t)
}

func replayOf(name string, from, to time.Time, datasets ...string) *replayv1.Replay {
	return &replayv1.Replay{Name: name, Datasets: datasets, From: timestamppb.New(from), To: timestamppb.New(to)}
}

func (s *suite) create(t *testing.T, r *replayv1.Replay) *replayv1.Replay {
	t.Helper()
	got, err := s.cli.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: r})
	if err != nil {
		t.Fatalf("create %s: %v", r.GetName(), err)
	}
	return got
}

// wait polls a replay until cond holds (a minute and a half at most).
func (s *suite) wait(t *testing.T, name string, cond func(*replayv1.Replay) bool) *replayv1.Replay {
	t.Helper()
	// A load that makes progress is waited for (the machine may be slow);
	// one that stalls for stall fails, as does one still short after cap.
	const stall, cap = 90 * time.Second, 8 * time.Minute
	began, deadline := time.Now(), time.Now().Add(stall)
	var loaded int64 = -1
	for {
		r, err := s.cli.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: name})
		if err == nil && cond(r) {
			return r
		}
		if err == nil && r.GetState() == replayv1.State_STATE_FAILED {
			t.Fatalf("replay %s failed: %v", name, r.GetProgress().GetErrors())
		}
		if n := r.GetProgress().GetEventsLoaded(); err == nil && n != loaded {
			loaded, deadline = n, time.Now().Add(stall)
		}
		if now := time.Now(); now.After(deadline) || now.Sub(began) > cap {
			t.Fatalf("replay %s: condition not met after %s (no progress for %s): %v %v", name, now.Sub(began).Round(time.Second), stall, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *suite) ready(t *testing.T, name string) *replayv1.Replay {
	t.Helper()
	return s.wait(t, name, func(r *replayv1.Replay) bool { return r.GetState() == replayv1.State_STATE_READY })
}

// searchIDs pages through a search and returns the ids (failing on
// duplicates) and the events' times by id.
func (s *suite) searchIDs(t *testing.T, req *replayv1.SearchRequest) ([]string, map[string]time.Time) {
	t.Helper()
	req.PageSize = 500
	req.Sort = replayv1.SearchRequest_SORT_OLDEST_FIRST
	times := map[string]time.Time{}
	var ids []string
	for {
		resp, err := s.cli.Search(context.Background(), req)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		for _, e := range resp.GetEvents() {
			if _, dup := times[e.GetId()]; dup {
				t.Fatalf("event %s twice", e.GetId())
			}
			times[e.GetId()] = e.GetTimestamp().AsTime()
			ids = append(ids, e.GetId())
		}
		if resp.GetNextPageToken() == "" {
			sort.Strings(ids)
			return ids, times
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// osJSON sends a request to OpenSearch directly (not through the service)
// and decodes the answer.
func (s *suite) osJSON(t *testing.T, method, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.os.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bytes.HasSuffix(body, []byte("\n")) {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// osCount is the number of documents OpenSearch holds under an index or alias.
func (s *suite) osCount(t *testing.T, index string) int64 {
	t.Helper()
	s.osJSON(t, http.MethodPost, "/"+index+"/_refresh", nil)
	code, out := s.osJSON(t, http.MethodGet, "/"+index+"/_count", nil)
	if code != http.StatusOK {
		t.Fatalf("count %s: %d %v", index, code, out)
	}
	return int64(out["count"].(float64))
}

func join(ids []string) string { return fmt.Sprint(ids) }
