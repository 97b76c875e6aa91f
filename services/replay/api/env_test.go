package api

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
)

var day1 = replaytest.Day1

func writeArchive(t *testing.T, dir string, perObject int) []replaytest.Event {
	t.Helper()
	all, err := replaytest.WriteArchive(dir, day1, 3, []string{"nginx.access", "app"}, perObject)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func writeLegacy(t *testing.T, dir string, perFile int) map[int][]time.Time {
	t.Helper()
	times, err := replaytest.WriteLegacy(dir, "error", 3, 2, perFile)
	if err != nil {
		t.Fatal(err)
	}
	return times
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
	e := etcdtest.Start(t)
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
