// Package api is the replay service (hindsight.replay.v1.ReplayService):
// it validates and plans replays, loads them in the background from a source
// (the archive or a legacy tree) into an isolated index per replay, keeps
// their state in etcd so a restarted service resumes unfinished loads,
// expires them, enforces limits, and searches replays and live data.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/event"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/source"
)

// Config is what the service is told.
type Config struct {
	Etcd *clientv3.Client
	// Prefix of the service's etcd keys (default DefaultPrefix).
	Prefix string
	// ArchiveURL is the archive replays read (gocloud.dev/blob URL).
	ArchiveURL string
	// LegacyURL is a tree of raw .gz files replays may read instead; empty:
	// none.
	LegacyURL string
	// Backends are the available targets, DefaultTarget the one used when a
	// replay names none.
	Backends      map[replayv1.Target_Kind]index.Backend
	DefaultTarget replayv1.Target_Kind
	// Live searches the live daily indices; nil: live search unavailable.
	Live index.Index
	// CorrelationFields are the fields a search's follow looks in for one
	// request's id (default DefaultCorrelationFields).
	CorrelationFields []string

	MaxRange                   time.Duration
	DefaultTTL, MinTTL, MaxTTL time.Duration
	// MaxConcurrent bounds the replays planning or loading at once (0: no
	// limit); MaxEventsTotal the events of all replays together (0: none).
	MaxConcurrent  int
	MaxEventsTotal int64
	// MaxReplays bounds the replays kept, in any state, and MaxPerCreator
	// those of one principal (0: no limit): each holds an index, and a
	// container replay a JVM, until it expires.
	MaxReplays    int
	MaxPerCreator int
	// Workers is how many files one replay loads at once; Batch how many
	// events go to the index per request.
	Workers, Batch int
	// ExpiryTick is how often expired replays are looked for.
	ExpiryTick time.Duration

	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (tests).
	Now func() time.Time
}

// Service implements replayv1.ReplayServiceServer.
type Service struct {
	replayv1.UnimplementedReplayServiceServer
	cfg     Config
	log     *slog.Logger
	store   *store
	metrics *metrics

	mu      sync.Mutex
	loads   map[string]*load       // running loads by replay
	indices map[string]index.Index // open indices by replay
	sources *sources               // guarded by mu
}

// New builds the service. Call Run to resume loads and expire replays.
func New(cfg Config) (*Service, error) {
	if cfg.Etcd == nil {
		return nil, fmt.Errorf("replays: no etcd client")
	}
	if len(cfg.Backends) == 0 {
		return nil, fmt.Errorf("replays: no target")
	}
	if cfg.Backends[cfg.DefaultTarget] == nil {
		return nil, fmt.Errorf("replays: default target %s is not configured", cfg.DefaultTarget)
	}
	setDefault(&cfg.Prefix, DefaultPrefix)
	setDefault(&cfg.MaxRange, DefaultMaxRange)
	setDefault(&cfg.DefaultTTL, DefaultTTL)
	setDefault(&cfg.MinTTL, DefaultMinTTL)
	setDefault(&cfg.MaxTTL, DefaultMaxTTL)
	setDefault(&cfg.Workers, DefaultWorkers)
	setDefault(&cfg.Batch, DefaultBatch)
	setDefault(&cfg.ExpiryTick, DefaultExpiryTick)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.CorrelationFields) == 0 {
		cfg.CorrelationFields = DefaultCorrelationFields
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg:     cfg,
		log:     cfg.Log,
		store:   &store{cli: cfg.Etcd, prefix: cfg.Prefix},
		metrics: m,
		loads:   map[string]*load{},
		indices: map[string]index.Index{},
		sources: newSources(m.sources),
	}, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Run resumes the loads that were unfinished when the service last stopped,
// then expires replays until ctx ends; it stops every load before returning.
func (s *Service) Run(ctx context.Context) error {
	if err := s.resume(ctx); err != nil {
		s.log.Error("resuming replays", "err", err)
	}
	t := time.NewTicker(s.cfg.ExpiryTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopAll()
			return nil
		case <-t.C:
			s.expire(ctx)
		}
	}
}

// resume restarts the load of every replay left planning or loading.
func (s *Service) resume(ctx context.Context) error {
	all, err := s.store.list(ctx)
	if err != nil {
		return err
	}
	for _, r := range all {
		if r.GetState() == replayv1.State_STATE_PLANNING || r.GetState() == replayv1.State_STATE_LOADING {
			s.log.Info("resuming replay", "replay", r.GetName(), "files_done", r.GetProgress().GetFilesDone(), "events_loaded", r.GetProgress().GetEventsLoaded())
			s.metrics.resumed.Inc()
			s.start(r)
		}
	}
	s.expire(ctx)
	return nil
}

// expire deletes the replays whose time is up.
func (s *Service) expire(ctx context.Context) {
	all, err := s.store.list(ctx)
	if err != nil {
		s.log.Warn("expiry: listing replays", "err", err)
		return
	}
	now := s.cfg.Now()
	for _, r := range all {
		if r.GetExpireTime() != nil && !now.Before(r.GetExpireTime().AsTime()) {
			s.log.Info("replay expired", "replay", r.GetName(), "expire_time", r.GetExpireTime().AsTime())
			if err := s.teardown(ctx, r); err != nil {
				s.log.Warn("expiry: deleting replay", "replay", r.GetName(), "err", err)
				continue
			}
			s.metrics.expired.Inc()
		}
	}
}

// Close stops the loads and closes indices and sources (after Run returned,
// or instead of it in tests).
func (s *Service) Close() {
	s.stopAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, ix := range s.indices {
		_ = ix.Close()
		delete(s.indices, n)
	}
	s.sources.closeAll()
}

func (s *Service) stopAll() {
	s.mu.Lock()
	loads := make([]*load, 0, len(s.loads))
	for _, l := range s.loads {
		loads = append(loads, l)
	}
	s.mu.Unlock()
	for _, l := range loads {
		l.stop()
	}
}

// CreateReplay validates, plans and starts loading in the background; the
// answer carries the estimate and the state PLANNING or LOADING.
func (s *Service) CreateReplay(ctx context.Context, req *replayv1.CreateReplayRequest) (*replayv1.Replay, error) {
	r := proto.Clone(req.GetReplay()).(*replayv1.Replay)
	if r == nil {
		r = &replayv1.Replay{}
	}
	est, err := s.plan(ctx, r)
	if err != nil {
		return nil, err
	}
	r.Estimate = est
	r.Creator = caller(ctx).Name
	if err := s.checkLimits(ctx, r); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	r.State = replayv1.State_STATE_PLANNING
	r.CreateTime = timestamppb.New(now)
	r.ExpireTime = timestamppb.New(now.Add(r.GetTtl().AsDuration()))
	r.SearchUrl = SearchURL(r)
	r.Progress = &replayv1.Progress{FilesTotal: est.GetFiles(), BytesTotal: est.GetBytes()}
	r.Target.Address = ""
	if err := s.store.create(ctx, r); err != nil {
		return nil, err
	}
	s.metrics.created.Inc()
	s.log.Info("replay created", "replay", r.GetName(), "datasets", r.GetDatasets(), "from", r.GetFrom().AsTime(), "to", r.GetTo().AsTime(),
		"query", r.GetQuery(), "max_events", r.GetMaxEvents(), "target", r.GetTarget().GetKind(), "files", est.GetFiles(), "bytes", est.GetBytes(), "creator", r.GetCreator())
	s.start(proto.Clone(r).(*replayv1.Replay))
	return r, nil
}

// EstimateReplay plans without creating.
func (s *Service) EstimateReplay(ctx context.Context, req *replayv1.EstimateReplayRequest) (*replayv1.Estimate, error) {
	r := proto.Clone(req.GetReplay()).(*replayv1.Replay)
	if r == nil {
		r = &replayv1.Replay{}
	}
	if r.Name == "" {
		r.Name = "estimate" // not created: any valid name will do
	}
	return s.plan(ctx, r)
}

// plan validates r, checks its datasets exist in its source and estimates
// the files, bytes and events loading it would read.
func (s *Service) plan(ctx context.Context, r *replayv1.Replay) (*replayv1.Estimate, error) {
	if err := s.validate(r); err != nil {
		return nil, err
	}
	src, release, err := s.source(ctx, r.GetSource())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.checkDatasets(ctx, src, r); err != nil {
		return nil, err
	}
	_, est, err := src.Plan(ctx, r.GetDatasets(), r.GetFrom().AsTime(), r.GetTo().AsTime())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "planning: %v", err)
	}
	return &replayv1.Estimate{Files: est.Files, Bytes: est.Bytes, Events: est.Events}, nil
}

// checkDatasets fails with the first dataset the source does not have.
func (s *Service) checkDatasets(ctx context.Context, src source.Source, r *replayv1.Replay) error {
	have, err := src.Datasets(ctx)
	if err != nil {
		return status.Errorf(codes.Unavailable, "listing datasets: %v", err)
	}
	if have == nil {
		return nil
	}
	set := map[string]bool{}
	for _, d := range have {
		set[d] = true
	}
	for i, d := range r.GetDatasets() {
		if !set[d] {
			return badrequest.Field(fmt.Sprintf("replay.datasets[%d]", i), "%q is not in the %s (it has %d datasets)", d, sourceNoun(r), len(have))
		}
	}
	return nil
}

func sourceNoun(r *replayv1.Replay) string {
	if r.GetSource().GetKind() == replayv1.Source_KIND_LEGACY_TREE {
		return "legacy tree"
	}
	return "archive"
}

// checkLimits enforces the concurrent-replay and total-event limits.
func (s *Service) checkLimits(ctx context.Context, r *replayv1.Replay) error {
	if s.cfg.MaxConcurrent <= 0 && s.cfg.MaxEventsTotal <= 0 && s.cfg.MaxReplays <= 0 && s.cfg.MaxPerCreator <= 0 {
		return nil
	}
	all, err := s.store.list(ctx)
	if err != nil {
		return err
	}
	active, mine := 0, 0
	var reserved int64
	for _, o := range all {
		if st := o.GetState(); st == replayv1.State_STATE_PLANNING || st == replayv1.State_STATE_LOADING {
			active++
		}
		if o.GetCreator() == r.GetCreator() {
			mine++
		}
		reserved += reservation(o)
	}
	if s.cfg.MaxPerCreator > 0 && mine >= s.cfg.MaxPerCreator {
		return status.Errorf(codes.ResourceExhausted, "%s has %d replays, the limit per creator is %d: delete one", r.GetCreator(), mine, s.cfg.MaxPerCreator)
	}
	if s.cfg.MaxReplays > 0 && len(all) >= s.cfg.MaxReplays {
		return status.Errorf(codes.ResourceExhausted, "%d replays exist, the limit is %d: delete one", len(all), s.cfg.MaxReplays)
	}
	if s.cfg.MaxConcurrent > 0 && active >= s.cfg.MaxConcurrent {
		return status.Errorf(codes.ResourceExhausted, "%d replays are loading, the limit is %d: wait for one to finish or delete one", active, s.cfg.MaxConcurrent)
	}
	if s.cfg.MaxEventsTotal > 0 {
		left := s.cfg.MaxEventsTotal - reserved
		need := reservation(r)
		if need < 0 && left > 0 {
			// A legacy tree's size is unknown until it is read: the replay may
			// take what is left, and is capped there.
			r.MaxEvents = left
			s.log.Info("replay capped at the events left under the service's limit", "replay", r.GetName(), "max_events", left)
			need = left
		}
		if need < 0 || reserved+need > s.cfg.MaxEventsTotal {
			return status.Errorf(codes.ResourceExhausted, "replay needs up to %d events but only %d of the service's %d remain: lower max_events, narrow the range or delete a replay",
				max(need, 0), max(0, left), s.cfg.MaxEventsTotal)
		}
	}
	return nil
}

// reservation is what a replay counts against the total: what it loaded
// when finished (or, loading a source of unknown size, so far), else its cap
// or estimate (-1: unknown).
func reservation(r *replayv1.Replay) int64 {
	switch st := r.GetState(); {
	case st == replayv1.State_STATE_READY || st == replayv1.State_STATE_FAILED:
		return r.GetProgress().GetEventsLoaded()
	case st != replayv1.State_STATE_UNSPECIFIED && r.GetEstimate().GetEvents() < 0:
		return r.GetProgress().GetEventsLoaded()
	case r.GetMaxEvents() > 0 && (r.GetEstimate().GetEvents() < 0 || r.GetMaxEvents() < r.GetEstimate().GetEvents()):
		return r.GetMaxEvents()
	}
	return r.GetEstimate().GetEvents()
}

// caller is who asked: the principal the server's interceptor authenticated
// from the call's credential (internal/auth), never anything the client
// says about itself; "anonymous" (an admin) when authentication is off.
func caller(ctx context.Context) auth.Principal {
	if p, ok := auth.FromContext(ctx); ok {
		return p
	}
	return auth.Anonymous
}

// mayChange refuses a change to r by anyone but its creator or an admin.
func mayChange(ctx context.Context, r *replayv1.Replay) error {
	p := caller(ctx)
	if p.Role >= auth.Admin || p.Name == r.GetCreator() {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "replay %s belongs to %s: only its creator or an admin may delete it (you are %s, %s)",
		r.GetName(), r.GetCreator(), p.Name, p.Role)
}

// SearchURL is the web page's link to a replay's search.
func SearchURL(r *replayv1.Replay) string {
	q := url.Values{}
	q.Set("replay", r.GetName())
	q.Set("from", event.FormatTime(r.GetFrom().AsTime()))
	q.Set("to", event.FormatTime(r.GetTo().AsTime()))
	q.Set("q", "")
	return "/search?" + q.Encode()
}

// GetReplay returns a replay with its live progress.
func (s *Service) GetReplay(ctx context.Context, req *replayv1.GetReplayRequest) (*replayv1.Replay, error) {
	r, err := s.store.get(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return s.withProgress(r), nil
}

// withProgress overlays the in-memory progress of a running load, fresher
// than the last one persisted.
func (s *Service) withProgress(r *replayv1.Replay) *replayv1.Replay {
	s.mu.Lock()
	l := s.loads[r.GetName()]
	s.mu.Unlock()
	if l != nil {
		l.snapshot(r)
	}
	return r
}

// ListReplays lists replays by name, page by page.
func (s *Service) ListReplays(ctx context.Context, req *replayv1.ListReplaysRequest) (*replayv1.ListReplaysResponse, error) {
	all, err := s.store.list(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > 500 {
		size = 500
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].GetName() > req.GetPageToken() })
	resp := &replayv1.ListReplaysResponse{}
	for ; i < len(all) && len(resp.Replays) < size; i++ {
		resp.Replays = append(resp.Replays, s.withProgress(all[i]))
	}
	if i < len(all) {
		resp.NextPageToken = resp.Replays[len(resp.Replays)-1].GetName()
	}
	return resp, nil
}

// DeleteReplay stops the load, drops the index and forgets the replay.
func (s *Service) DeleteReplay(ctx context.Context, req *replayv1.DeleteReplayRequest) (*replayv1.DeleteReplayResponse, error) {
	r, err := s.store.get(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := mayChange(ctx, r); err != nil {
		return nil, err
	}
	if err := s.teardown(ctx, r); err != nil {
		return nil, err
	}
	s.metrics.deleted.Inc()
	s.log.Info("replay deleted", "replay", r.GetName(), "by", caller(ctx).Name)
	return &replayv1.DeleteReplayResponse{}, nil
}

func (s *Service) teardown(ctx context.Context, r *replayv1.Replay) error {
	name := r.GetName()
	r.State = replayv1.State_STATE_DELETING
	if err := s.store.put(ctx, r); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.loads[name]
	s.mu.Unlock()
	if l != nil {
		l.stop()
	}
	s.mu.Lock()
	if ix := s.indices[name]; ix != nil {
		_ = ix.Close()
		delete(s.indices, name)
	}
	s.mu.Unlock()
	b := s.cfg.Backends[r.GetTarget().GetKind()]
	if b != nil {
		if err := b.Drop(ctx, name); err != nil {
			return status.Errorf(codes.Unavailable, "dropping the index of %s: %v", name, err)
		}
	}
	return s.store.remove(ctx, name)
}

// index returns the replay's open index, opening it once. Opening may take
// a while (a container target starts a node), so it runs unlocked; of two
// racing opens, the first stored wins.
func (s *Service) index(ctx context.Context, r *replayv1.Replay) (index.Index, string, error) {
	s.mu.Lock()
	ix := s.indices[r.GetName()]
	s.mu.Unlock()
	if ix != nil {
		return ix, r.GetTarget().GetAddress(), nil
	}
	b := s.cfg.Backends[r.GetTarget().GetKind()]
	if b == nil {
		return nil, "", status.Errorf(codes.FailedPrecondition, "target %s of replay %s is not configured on this service", r.GetTarget().GetKind(), r.GetName())
	}
	ix, addr, err := b.Open(ctx, r.GetName())
	if err != nil {
		return nil, "", status.Errorf(codes.Unavailable, "opening the index of %s: %v", r.GetName(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.indices[r.GetName()]; other != nil {
		_ = ix.Close()
		return other, addr, nil
	}
	s.indices[r.GetName()] = ix
	return ix, addr, nil
}

// source returns the (shared) source a replay reads and the function that
// releases it (see sources).
func (s *Service) source(ctx context.Context, src *replayv1.Source) (source.Source, func(), error) {
	key := src.GetKind().String() + " " + src.GetUrl() + " " + src.GetPathTemplate() + " " + src.GetParser().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, release, err := s.sources.get(key, func() (source.Source, error) {
		if src.GetKind() == replayv1.Source_KIND_LEGACY_TREE {
			return source.OpenLegacy(ctx, src.GetUrl(), src.GetPathTemplate(), src.GetParser())
		}
		return source.OpenArchive(ctx, src.GetUrl())
	})
	if err != nil {
		return nil, nil, status.Errorf(codes.Unavailable, "opening the source: %v", err)
	}
	return o, func() { s.mu.Lock(); defer s.mu.Unlock(); release() }, nil
}
