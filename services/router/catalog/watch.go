package catalog

import (
	"context"
	"maps"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Snapshot is the whole catalog at one etcd revision. Watch hands out a new
// one on every change; it is not modified afterwards.
type Snapshot struct {
	Revision int64
	Datasets map[string]*routingv1.Dataset
	Routes   map[string]*routingv1.Route
}

// Watch calls apply with the catalog now and again after every change, until
// ctx ends. When etcd is unreachable or the watch is compacted away it
// reloads the whole catalog, with a growing pause between attempts.
func (s *Store) Watch(ctx context.Context, apply func(*Snapshot)) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		snap, err := s.load(ctx)
		if err != nil {
			s.log.Warn("catalog not loaded; retrying", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		apply(snap)
		err = s.follow(ctx, snap, apply)
		if ctx.Err() == nil {
			s.log.Warn("catalog watch ended; reloading", "err", err)
			sleep(ctx, backoff)
		}
	}
	return nil
}

// load reads the whole catalog.
func (s *Store) load(ctx context.Context) (*Snapshot, error) {
	octx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Get(octx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Revision: resp.Header.Revision, Datasets: map[string]*routingv1.Dataset{}, Routes: map[string]*routingv1.Route{}}
	for _, kv := range resp.Kvs {
		snap.put(s, string(kv.Key), kv.Value)
	}
	return snap, nil
}

// follow applies the changes after snap's revision until the watch fails.
func (s *Store) follow(ctx context.Context, snap *Snapshot, apply func(*Snapshot)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(snap.Revision+1)) {
		if err := resp.Err(); err != nil {
			return err
		}
		next := &Snapshot{Revision: resp.Header.Revision, Datasets: maps.Clone(snap.Datasets), Routes: maps.Clone(snap.Routes)}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				next.remove(s, string(ev.Kv.Key))
			} else {
				next.put(s, string(ev.Kv.Key), ev.Kv.Value)
			}
		}
		snap = next
		apply(snap)
	}
	return ctx.Err()
}

// put and remove apply one key; entries are named by their key.
func (snap *Snapshot) put(s *Store, key string, value []byte) {
	rest := strings.TrimPrefix(key, s.prefix)
	var err error
	if name, ok := strings.CutPrefix(rest, datasets.dir); ok {
		var d *routingv1.Dataset
		if d, err = decode(datasets, value); err == nil {
			d.Name = name
			snap.Datasets[name] = d
		}
	} else if name, ok := strings.CutPrefix(rest, routes.dir); ok {
		var r *routingv1.Route
		if r, err = decode(routes, value); err == nil {
			r.Name = name
			snap.Routes[name] = r
		}
	}
	if err != nil {
		s.log.Warn("skipping undecodable catalog entry", "key", key, "err", err)
	}
}

func (snap *Snapshot) remove(s *Store, key string) {
	rest := strings.TrimPrefix(key, s.prefix)
	if name, ok := strings.CutPrefix(rest, datasets.dir); ok {
		delete(snap.Datasets, name)
	} else if name, ok := strings.CutPrefix(rest, routes.dir); ok {
		delete(snap.Routes, name)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
