package replays

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	_ "gocloud.dev/blob/fileblob"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/event"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
)

// day1 is the first of the three archived days.
var day1 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// genEvent is one generated event, as the test expects to find it.
type genEvent struct {
	id, dataset, level, service string
	time                        time.Time
}

// writeArchive writes three days of two datasets in the archive layout:
// per dataset and day, two partitions of two objects of perObject events,
// with events on both sides of each midnight.
func writeArchive(t *testing.T, dir string, perObject int) []genEvent {
	t.Helper()
	ctx := context.Background()
	st, err := archive.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var all []genEvent
	for _, ds := range []string{"nginx.access", "app"} {
		offset := map[int32]int64{}
		for d := 0; d < 3; d++ {
			day := day1.AddDate(0, 0, d)
			perDay := 4 * perObject
			n := 0
			for part := int32(0); part < 2; part++ {
				for obj := 0; obj < 2; obj++ {
					var docs []archive.Doc
					first := offset[part]
					for i := 0; i < perObject; i++ {
						// From midnight to the last nanosecond of the day.
						ts := day.Add(time.Duration(n) * (24*time.Hour - 1) / time.Duration(perDay-1))
						n++
						e := &eventv1.Event{
							Timestamp: timestamppb.New(ts),
							Dataset:   ds,
							Message:   fmt.Sprintf("GET /item/%d served by %s", n, []string{"api", "web"}[n%2]),
							Level:     []string{"info", "error", "info", "warn"}[n%4],
							Service:   []string{"api", "web"}[n%2],
							Source:    &eventv1.Source{Host: "h1", FileId: ds + "-file", FilePath: "/var/log/" + ds, Offset: int64(d*perDay + n)},
						}
						e.Id = event.ID(e.Source)
						b, err := event.Marshal(e)
						if err != nil {
							t.Fatal(err)
						}
						docs = append(docs, archive.Doc{Time: ts, JSON: b})
						all = append(all, genEvent{id: e.Id, dataset: ds, level: e.Level, service: e.Service, time: ts})
						offset[part]++
					}
					k := archive.Key{Dataset: ds, Day: day, Topic: "logs." + ds, Partition: part, FirstOffset: first, LastOffset: offset[part] - 1}
					if _, err := st.Write(ctx, k, docs); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	return all
}

// writeLegacy writes a raw .gz tree error/YYYY/MM/DD/*.gz of three days,
// lines starting with their time; it returns each day's lines' times.
func writeLegacy(t *testing.T, dir string, perFile int) map[int][]time.Time {
	t.Helper()
	out := map[int][]time.Time{}
	for d := 0; d < 3; d++ {
		day := day1.AddDate(0, 0, d)
		folder := filepath.Join(dir, "error", day.Format("2006/01/02"))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 2; f++ {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			for i := 0; i < perFile; i++ {
				ts := day.Add(time.Duration(f*perFile+i) * time.Minute)
				out[d] = append(out[d], ts)
				fmt.Fprintf(gz, "%s ERROR worker %d failed: connection reset\n", ts.Format(time.RFC3339), i)
			}
			gz.Close()
			if err := os.WriteFile(filepath.Join(folder, fmt.Sprintf("host%d.gz", f)), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// env is a replay service on an embedded etcd, a file archive and embedded
// indices, restartable on the same state.
type env struct {
	t          *testing.T
	etcd       *etcdembed.Etcd
	archiveDir string
	legacyDir  string
	indexDir   string
	cfg        func(*Config)
	svc        *Service
	stop       context.CancelFunc
	ran        chan struct{}
	now        atomic.Pointer[time.Time]
	putDelay   time.Duration
}

func newEnv(t *testing.T, cfg func(*Config)) *env {
	t.Helper()
	e, err := etcdembed.Start(context.Background(), etcdembed.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	en := &env{t: t, etcd: e, archiveDir: t.TempDir(), legacyDir: t.TempDir(), indexDir: t.TempDir(), cfg: cfg}
	now := time.Now()
	en.now.Store(&now)
	en.startService()
	t.Cleanup(en.stopService)
	return en
}

func (en *env) startService() {
	en.t.Helper()
	b, err := embedded.New(en.indexDir)
	if err != nil {
		en.t.Fatal(err)
	}
	cfg := Config{
		Etcd:          en.etcd.Client(),
		ArchiveURL:    "file://" + en.archiveDir,
		LegacyURL:     "file://" + en.legacyDir,
		Backends:      map[replayv1.Target_Kind]index.Backend{replayv1.Target_KIND_EMBEDDED: slowBackend{b, en.putDelay}},
		DefaultTarget: replayv1.Target_KIND_EMBEDDED,
		Batch:         100,
		ExpiryTick:    50 * time.Millisecond,
		Now:           func() time.Time { return *en.now.Load() },
	}
	if en.cfg != nil {
		en.cfg(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		en.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	en.svc, en.stop, en.ran = svc, cancel, make(chan struct{})
	go func() { defer close(en.ran); svc.Run(ctx) }()
}

// stopService stops the service the way a crash would, as far as the state
// is concerned: the loads are cut off wherever they are.
func (en *env) stopService() {
	if en.svc == nil {
		return
	}
	en.stop()
	<-en.ran
	en.svc.Close()
	en.svc = nil
}

func (en *env) create(r *replayv1.Replay) *replayv1.Replay {
	en.t.Helper()
	got, err := en.svc.CreateReplay(context.Background(), &replayv1.CreateReplayRequest{Replay: r})
	if err != nil {
		en.t.Fatalf("create %s: %v", r.GetName(), err)
	}
	return got
}

// wait polls the replay until cond holds.
func (en *env) wait(name string, cond func(*replayv1.Replay) bool) *replayv1.Replay {
	en.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := en.svc.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: name})
		if err != nil {
			en.t.Fatalf("get %s: %v", name, err)
		}
		if cond(r) {
			return r
		}
		if r.GetState() == replayv1.State_STATE_FAILED {
			en.t.Fatalf("replay %s failed: %v", name, r.GetProgress().GetErrors())
		}
		if time.Now().After(deadline) {
			en.t.Fatalf("replay %s: condition not met, last %v", name, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (en *env) ready(name string) *replayv1.Replay {
	en.t.Helper()
	return en.wait(name, func(r *replayv1.Replay) bool { return r.GetState() == replayv1.State_STATE_READY })
}

// searchAll pages through every hit of a replay search, oldest first.
func (en *env) searchAll(req *replayv1.SearchRequest) []*eventv1.Event {
	en.t.Helper()
	req.Sort = replayv1.SearchRequest_SORT_OLDEST_FIRST
	req.PageSize = 500
	var out []*eventv1.Event
	for {
		resp, err := en.svc.Search(context.Background(), req)
		if err != nil {
			en.t.Fatalf("search: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			if int64(len(out)) != resp.GetTotal() {
				en.t.Fatalf("paged %d events, total says %d", len(out), resp.GetTotal())
			}
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func replayOf(name string, from, to time.Time, datasets ...string) *replayv1.Replay {
	return &replayv1.Replay{Name: name, Datasets: datasets, From: timestamppb.New(from), To: timestamppb.New(to)}
}

// ids returns the events' ids, sorted, failing on duplicates.
func ids(t *testing.T, evs []*eventv1.Event) []string {
	t.Helper()
	out := make([]string, 0, len(evs))
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.GetId()] {
			t.Fatalf("duplicate event %s", e.GetId())
		}
		seen[e.GetId()] = true
		out = append(out, e.GetId())
	}
	sort.Strings(out)
	return out
}

func expectedIDs(all []genEvent, keep func(genEvent) bool) []string {
	var out []string
	for _, g := range all {
		if keep(g) {
			out = append(out, g.id)
		}
	}
	sort.Strings(out)
	return out
}

func code(err error) codes.Code { return status.Code(err) }

// slowBackend delays every Put, so a test can catch a load in the middle.
type slowBackend struct {
	index.Backend
	delay time.Duration
}

func (b slowBackend) Open(ctx context.Context, name string) (index.Index, string, error) {
	ix, addr, err := b.Backend.Open(ctx, name)
	if err != nil || b.delay == 0 {
		return ix, addr, err
	}
	return slowIndex{ix, b.delay}, addr, nil
}

type slowIndex struct {
	index.Index
	delay time.Duration
}

func (s slowIndex) Put(ctx context.Context, docs []index.Doc) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Index.Put(ctx, docs)
}
