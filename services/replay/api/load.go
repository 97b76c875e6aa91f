package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/event"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

const (
	// fileAttempts is how often a file is read before the load gives up on it.
	fileAttempts = 3
	// maxErrors bounds the errors a replay reports.
	maxErrors = 10
	// persistEvery is how often a running load saves its progress.
	persistEvery = time.Second
)

// errCap stops a load whose max_events is reached.
var errCap = errors.New("max_events reached")

// load is one replay's background load.
type load struct {
	s      *Service
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	r    *replayv1.Replay // state, target address, estimate: guarded by mu
	errs []string

	started       time.Time
	loadedAtStart int64
	filesTotal    atomic.Int64
	filesDone     atomic.Int64
	bytesTotal    atomic.Int64
	bytesDone     atomic.Int64
	loaded        atomic.Int64
	skipped       atomic.Int64
}

// start runs the replay's load in the background (replacing a running one).
func (s *Service) start(r *replayv1.Replay) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{s: s, r: r, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	old := s.loads[r.GetName()]
	s.loads[r.GetName()] = l
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
	s.metrics.active.Inc()
	go l.run(ctx)
}

// stop cancels the load and waits for it to end. The replay's state stays as
// it was persisted: a stopped load is resumed by the next Run.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

func (l *load) run(ctx context.Context) {
	s := l.s
	name := l.r.GetName()
	defer func() {
		s.mu.Lock()
		if s.loads[name] == l {
			delete(s.loads, name)
		}
		s.mu.Unlock()
		s.metrics.active.Dec()
		close(l.done)
	}()
	err := l.load(ctx)
	if ctx.Err() != nil {
		return // stopped: deleted, or the service is shutting down
	}
	l.mu.Lock()
	if err != nil {
		l.addError(err.Error())
		l.r.State = replayv1.State_STATE_FAILED
	} else {
		l.r.State = replayv1.State_STATE_READY
	}
	l.mu.Unlock()
	s.metrics.finished.WithLabelValues(l.r.GetState().String()).Inc()
	final := l.persist(ctx)
	s.log.Info("replay loaded", "replay", name, "state", final.GetState(), "events_loaded", final.GetProgress().GetEventsLoaded(),
		"events_skipped", final.GetProgress().GetEventsSkipped(), "files", final.GetProgress().GetFilesDone(),
		"seconds", time.Since(l.started).Seconds(), "errors", final.GetProgress().GetErrors())
}

// load plans the files, skips those already loaded by an earlier run, and
// loads the rest. With max_events it loads one file at a time in plan order,
// so the events kept are the first max_events that match, whatever the
// restarts: a resumed load re-indexes the same events under the same ids.
func (l *load) load(ctx context.Context) error {
	s := l.s
	r := l.snapshotReplay()
	q, err := query.Parse(r.GetQuery())
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	src, release, err := s.source(ctx, r.GetSource())
	if err != nil {
		return err
	}
	defer release()
	ix, addr, err := s.index(ctx, r)
	if err != nil {
		return err
	}
	from, to := r.GetFrom().AsTime(), r.GetTo().AsTime()
	files, _, err := src.Plan(ctx, r.GetDatasets(), from, to)
	if err != nil {
		return fmt.Errorf("planning: %w", err)
	}
	done, err := s.store.done(ctx, r.GetName())
	if err != nil {
		return err
	}
	var pending []source.File
	for _, f := range files {
		l.filesTotal.Add(1)
		l.bytesTotal.Add(f.Bytes)
		if d, ok := done[s.store.fileKey(r.GetName(), f.Path)]; ok {
			l.filesDone.Add(1)
			l.bytesDone.Add(d.Bytes)
			l.loaded.Add(d.Events)
			l.skipped.Add(d.Skipped)
			continue
		}
		pending = append(pending, f)
	}
	l.started = time.Now()
	l.loadedAtStart = l.loaded.Load()
	l.mu.Lock()
	l.r.State = replayv1.State_STATE_LOADING
	l.r.Target.Address = addr
	l.mu.Unlock()
	l.persist(ctx)

	stopPersisting := l.persistPeriodically(ctx)
	defer stopPersisting()

	workers := s.cfg.Workers
	if r.GetMaxEvents() > 0 {
		workers = 1
	}
	capped := r.GetMaxEvents() > 0 && l.loaded.Load() >= r.GetMaxEvents()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan source.File)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				err := l.loadFileRetrying(lctx, src, ix, q, r, f)
				switch {
				case errors.Is(err, errCap):
					cancel()
				case err != nil && lctx.Err() == nil:
					failed.Add(1)
					l.mu.Lock()
					l.addError(err.Error())
					l.mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, f := range pending {
		if capped {
			break
		}
		select {
		case work <- f:
		case <-lctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := ix.Refresh(ctx); err != nil {
		return fmt.Errorf("refreshing the index: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d files could not be loaded", n, len(files))
	}
	return nil
}

func (l *load) loadFileRetrying(ctx context.Context, src source.Source, ix index.Index, q query.Node, r *replayv1.Replay, f source.File) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := l.loadFile(ctx, src, ix, q, r, f)
		if err == nil || errors.Is(err, errCap) || ctx.Err() != nil || attempt == fileAttempts {
			if err != nil && !errors.Is(err, errCap) {
				err = fmt.Errorf("%s: %w", f.Path, err)
			}
			return err
		}
		l.s.log.Warn("replay file failed, retrying", "replay", r.GetName(), "file", f.Path, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// loadFile reads one file, keeps the events in the range that match the
// query, puts them in batches, and records the file as done. On error its
// counts are taken back, since the file will be read again.
func (l *load) loadFile(ctx context.Context, src source.Source, ix index.Index, q query.Node, r *replayv1.Replay, f source.File) (err error) {
	s := l.s
	from, to := r.GetFrom().AsTime(), r.GetTo().AsTime()
	maxEvents := r.GetMaxEvents()
	var batch []index.Doc
	var fileLoaded, fileSkipped, bytesRead, line int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ix.Put(ctx, batch); err != nil {
			return err
		}
		l.loaded.Add(int64(len(batch)))
		fileLoaded += int64(len(batch))
		s.metrics.loaded.Add(float64(len(batch)))
		batch = batch[:0]
		return nil
	}
	defer func() {
		if err != nil && !errors.Is(err, errCap) {
			l.loaded.Add(-fileLoaded)
			l.skipped.Add(-fileSkipped)
			l.bytesDone.Add(-bytesRead)
		}
	}()
	err = src.Read(ctx, f, func(rec source.Record, read int64) error {
		line++
		l.bytesDone.Add(read - bytesRead)
		s.metrics.bytes.Add(float64(read - bytesRead))
		bytesRead = read
		var doc map[string]any
		t, ok := time.Time{}, false
		if json.Unmarshal(rec.Doc, &doc) == nil {
			t, ok = timestamp(doc)
		}
		if !ok || t.Before(from) || !t.Before(to) || !query.Matches(q, doc) {
			fileSkipped++
			l.skipped.Add(1)
			s.metrics.skipped.Inc()
			return nil
		}
		if maxEvents > 0 && l.loaded.Load()+int64(len(batch)) >= maxEvents {
			return errCap
		}
		id := rec.ID
		if id == "" {
			id = docID(doc, f.Path, line)
		}
		batch = append(batch, index.Doc{ID: id, Time: t, Source: append([]byte(nil), rec.Doc...), Fields: doc})
		if len(batch) >= s.cfg.Batch || len(batch) >= firstBatch && l.loaded.Load() == 0 {
			return flush()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errCap) {
		return err
	}
	if ferr := flush(); ferr != nil {
		return ferr
	}
	if err != nil { // errCap: the file is not done, and need not be
		return err
	}
	if err := s.store.markDone(ctx, r.GetName(), f.Path, fileDone{Events: fileLoaded, Skipped: fileSkipped, Bytes: f.Bytes}); err != nil {
		return err
	}
	l.bytesDone.Add(f.Bytes - bytesRead)
	bytesRead = f.Bytes
	l.filesDone.Add(1)
	s.metrics.files.Inc()
	return nil
}

// firstBatch bounds the batches put before a replay has any event loaded:
// its first results are searchable after a small Put, not a full batch
// (5 000 by default) on each of its workers.
const firstBatch = 500

func timestamp(doc map[string]any) (time.Time, bool) {
	s, ok := doc["@timestamp"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := event.ParseTime(s)
	return t, err == nil
}

// docID is the document's event.id; a document without one (not written by
// Hindsight) gets an id from its place in the file, stable across re-reads.
func docID(doc map[string]any, path string, line int64) string {
	if id, ok := query.Lookup(doc, "event.id").(string); ok && id != "" {
		return id
	}
	return event.ID(&eventv1.Source{FileId: path, Offset: line})
}

// addError records an error for the user (mu held).
func (l *load) addError(msg string) {
	l.s.metrics.errors.Inc()
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, msg)
	}
}

func (l *load) snapshotReplay() *replayv1.Replay {
	l.mu.Lock()
	defer l.mu.Unlock()
	return proto.Clone(l.r).(*replayv1.Replay)
}

// snapshot writes the load's state and progress into r.
func (l *load) snapshot(r *replayv1.Replay) {
	l.mu.Lock()
	r.State = l.r.GetState()
	if r.Target != nil && l.r.GetTarget().GetAddress() != "" {
		r.Target.Address = l.r.GetTarget().GetAddress()
	}
	errs := append([]string(nil), l.errs...)
	l.mu.Unlock()
	p := &replayv1.Progress{
		FilesTotal:    l.filesTotal.Load(),
		FilesDone:     l.filesDone.Load(),
		BytesTotal:    l.bytesTotal.Load(),
		BytesDone:     l.bytesDone.Load(),
		EventsLoaded:  l.loaded.Load(),
		EventsSkipped: l.skipped.Load(),
		Errors:        errs,
	}
	if p.FilesTotal == 0 && r.GetProgress() != nil {
		// Still planning: keep what Create estimated.
		p.FilesTotal, p.BytesTotal = r.GetProgress().GetFilesTotal(), r.GetProgress().GetBytesTotal()
	}
	if !l.started.IsZero() {
		if secs := time.Since(l.started).Seconds(); secs > 0 {
			p.EventsPerSecond = float64(p.EventsLoaded-l.loadedAtStart) / secs
			if bps := float64(p.BytesDone) / secs; bps > 0 && r.GetState() == replayv1.State_STATE_LOADING {
				p.Eta = durationpb.New(time.Duration(float64(p.BytesTotal-p.BytesDone) / bps * float64(time.Second)))
			}
		}
	}
	if r.GetState() == replayv1.State_STATE_READY {
		p.Eta = durationpb.New(0)
	}
	r.Progress = p
}

// persist saves the replay with its progress and returns what it saved.
func (l *load) persist(ctx context.Context) *replayv1.Replay {
	r := l.snapshotReplay()
	l.snapshot(r)
	if err := l.s.store.put(ctx, r); err != nil && ctx.Err() == nil {
		l.s.log.Warn("saving replay progress", "replay", r.GetName(), "err", err)
	}
	return r
}

func (l *load) persistPeriodically(ctx context.Context) (stop func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(persistEvery)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				l.persist(pctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
