package api

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// snapshotChunk is how many JOIN events of the initial snapshot go in one
// response (keeps messages well under gRPC's 4 MiB default).
const snapshotChunk = 2000

// Watch streams member events. With after_revision 0 it first sends every
// current member as a JOIN event, all in one response (or several of
// snapshotChunk events for very large registries) even when there is none,
// each event carrying the revision the snapshot was read at; then every
// change after that revision. With after_revision N it sends the changes
// after N. A stream ends with Unavailable when etcd stops answering and with
// OutOfRange when N has been compacted away; the message says how to resume.
func (s *Service) Watch(req *membershipv1.WatchRequest, stream grpc.ServerStreamingServer[membershipv1.WatchResponse]) error {
	var v violations
	v.service("service", req.GetService(), false)
	if req.GetAfterRevision() < 0 {
		v.Add("after_revision", "%d must not be negative", req.AfterRevision)
	}
	if err := v.Err(); err != nil {
		return err
	}
	ctx := stream.Context()
	s.metrics.watchStreams.Inc()
	defer s.metrics.watchStreams.Dec()
	log := s.log.With("service", req.Service, "after_revision", req.AfterRevision)
	log.Debug("watch started")

	prefix := s.servicePrefix(req.Service)
	last := req.AfterRevision // the revision the client has seen everything up to
	octx, cancel := s.op(ctx)
	if last == 0 {
		get, err := s.cli.Get(octx, prefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			return s.etcdError(ctx, "list members", err)
		}
		last = get.Header.Revision
		events := make([]*membershipv1.MemberEvent, 0, len(get.Kvs))
		for _, kv := range get.Kvs {
			m, err := s.decode(kv.Key, kv.Value, kv.Lease)
			if err != nil {
				log.Warn("skipping undecodable member", "err", err)
				continue
			}
			events = append(events, &membershipv1.MemberEvent{Type: membershipv1.MemberEvent_TYPE_JOIN, Member: m, Revision: last})
		}
		for first := true; first || len(events) > 0; first = false {
			n := min(len(events), snapshotChunk)
			if err := stream.Send(&membershipv1.WatchResponse{Events: events[:n]}); err != nil {
				return err
			}
			s.metrics.watchEvents.WithLabelValues("join").Add(float64(n))
			events = events[n:]
		}
	} else {
		// Check etcd answers (a watch alone would wait for it forever) and
		// that the revision is not from the future (etcd was reset).
		get, err := s.cli.Get(octx, prefix, clientv3.WithCountOnly())
		cancel()
		if err != nil {
			return s.etcdError(ctx, "read revision", err)
		}
		if cur := get.Header.Revision; last > cur {
			return status.Errorf(codes.OutOfRange, "after_revision %d is ahead of etcd's revision %d (was etcd reset?); watch again with after_revision=0", last, cur)
		}
	}

	down := s.health.downCh()
	wch, wcancel := s.watchUntilDown(clientv3.WithRequireLeader(ctx), down, prefix, clientv3.WithRev(last+1), clientv3.WithPrevKV())
	defer wcancel()
	unavailable := func(why string) error {
		log.Warn("watch ended: etcd unavailable", "why", why, "last_revision", last)
		return status.Errorf(codes.Unavailable, "etcd unavailable (%s); watch again with after_revision=%d", why, last)
	}
	for {
		select {
		case <-ctx.Done():
			log.Debug("watch ended by client", "last_revision", last)
			return status.FromContextError(ctx.Err()).Err()
		case <-down:
			return unavailable("unreachable")
		case wr, ok := <-wch:
			if !ok {
				if ctx.Err() != nil {
					return status.FromContextError(ctx.Err()).Err()
				}
				return unavailable("watch closed")
			}
			if wr.CompactRevision != 0 {
				log.Info("watch ended: revision compacted", "compact_revision", wr.CompactRevision)
				return status.Errorf(codes.OutOfRange, "after_revision %d is compacted (oldest available %d); watch again with after_revision=0", last, wr.CompactRevision)
			}
			if err := wr.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrNoLeader) {
					return unavailable("no leader")
				}
				return s.etcdError(ctx, "watch", err)
			}
			if wr.IsProgressNotify() {
				continue
			}
			resp := &membershipv1.WatchResponse{}
			for _, ev := range wr.Events {
				if me := s.event(ev); me != nil {
					resp.Events = append(resp.Events, me)
				}
			}
			if len(resp.Events) > 0 {
				if err := stream.Send(resp); err != nil {
					return err
				}
				for _, e := range resp.Events {
					s.metrics.watchEvents.WithLabelValues(cmp.Or(eventLabels[e.Type], "leave")).Inc()
				}
			}
			last = wr.Header.Revision
		}
	}
}

// watchUntilDown watches a prefix until ctx ends or etcd is found
// unreachable. (clientv3's Watch itself blocks until etcd confirms the watch,
// so it must be cancelled from outside when etcd is gone.)
func (s *Service) watchUntilDown(ctx context.Context, down <-chan struct{}, prefix string, opts ...clientv3.OpOption) (clientv3.WatchChan, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-down:
			cancel()
		case <-wctx.Done():
		}
	}()
	return s.cli.Watch(wctx, prefix, append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...), cancel
}

// eventLabels are the watch_events_total metric's type labels; anything else is a leave.
var eventLabels = map[membershipv1.MemberEvent_Type]string{
	membershipv1.MemberEvent_TYPE_JOIN:   "join",
	membershipv1.MemberEvent_TYPE_UPDATE: "update",
}

// event turns an etcd event into a member event; nil for keys that are not
// members and for puts that changed nothing.
func (s *Service) event(ev *clientv3.Event) *membershipv1.MemberEvent {
	service, id, ok := s.parseKey(ev.Kv.Key)
	if !ok {
		return nil
	}
	rev := ev.Kv.ModRevision
	if ev.Type == mvccpb.DELETE {
		return &membershipv1.MemberEvent{
			Type:     membershipv1.MemberEvent_TYPE_LEAVE,
			Member:   &membershipv1.Member{Service: service, Id: id},
			Revision: rev,
		}
	}
	if p := ev.PrevKv; p != nil && p.Lease == ev.Kv.Lease && bytes.Equal(p.Value, ev.Kv.Value) {
		return nil
	}
	m, err := s.decode(ev.Kv.Key, ev.Kv.Value, ev.Kv.Lease)
	if err != nil {
		s.log.Warn("skipping undecodable member", "err", err)
		return nil
	}
	t := membershipv1.MemberEvent_TYPE_UPDATE
	if ev.IsCreate() {
		t = membershipv1.MemberEvent_TYPE_JOIN
	}
	return &membershipv1.MemberEvent{Type: t, Member: m, Revision: rev}
}

// etcdHealth is whether etcd answered the last reachability check.
type etcdHealth struct {
	mu   sync.Mutex
	up   bool
	down chan struct{} // closed while etcd is unreachable
}

func newEtcdHealth() *etcdHealth { return &etcdHealth{up: true, down: make(chan struct{})} }

// downCh is closed when etcd is (or becomes) unreachable.
func (h *etcdHealth) downCh() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// set records a check's result and says whether the state changed.
func (h *etcdHealth) set(up bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if up == h.up {
		return false
	}
	h.up = up
	if up {
		h.down = make(chan struct{})
	} else {
		close(h.down)
	}
	return true
}

// pingLoop checks etcd's reachability every PingInterval.
func (s *Service) pingLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		octx, cancel := s.op(ctx)
		_, err := s.cli.Get(octx, s.opts.Prefix, clientv3.WithCountOnly())
		cancel()
		if ctx.Err() != nil {
			return
		}
		up := err == nil || !unreachable(err)
		if s.health.set(up) {
			if up {
				s.log.Info("etcd reachable again")
			} else {
				s.log.Warn("etcd unreachable", "err", err)
			}
		}
		if up {
			s.metrics.etcdUp.Set(1)
		} else {
			s.metrics.etcdUp.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// unreachable says whether err means etcd could not be reached in time.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// countLoop keeps the members{service} gauge: a full count, then a watch;
// it counts again after compaction or when etcd was unreachable.
func (s *Service) countLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.count(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("members gauge: counting again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.PingInterval):
		}
	}
}

func (s *Service) count(ctx context.Context) error {
	down := s.health.downCh()
	octx, cancel := s.op(ctx)
	get, err := s.cli.Get(octx, s.opts.Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, kv := range get.Kvs {
		if service, _, ok := s.parseKey(kv.Key); ok {
			counts[service]++
		}
	}
	s.metrics.members.Reset()
	for service, n := range counts {
		s.metrics.members.WithLabelValues(service).Set(float64(n))
	}
	wch, wcancel := s.watchUntilDown(ctx, down, s.opts.Prefix, clientv3.WithRev(get.Header.Revision+1))
	defer wcancel()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-down:
			return errors.New("etcd unreachable")
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			for _, ev := range wr.Events {
				service, id, ok := s.parseKey(ev.Kv.Key)
				if !ok {
					continue
				}
				switch {
				case ev.Type == mvccpb.DELETE:
					counts[service]--
					s.log.Debug("member left", "service", service, "id", id, "revision", ev.Kv.ModRevision)
				case ev.IsCreate():
					counts[service]++
					s.log.Debug("member joined", "service", service, "id", id, "revision", ev.Kv.ModRevision)
				default:
					continue
				}
				if n := counts[service]; n > 0 {
					s.metrics.members.WithLabelValues(service).Set(float64(n))
				} else {
					delete(counts, service)
					s.metrics.members.DeleteLabelValues(service)
				}
			}
		}
	}
}
