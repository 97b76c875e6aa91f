// Package renderer turns etcd contents (above all the membership registry)
// into configuration files, as confd does, without polling: each template
// resource lists and then watches its etcd prefixes, and renders after a
// debounce window (wait.min of quiet, at most wait.max after the first change
// of a burst). The output replaces the destination file atomically and only
// when it differs; a check command vets the candidate first (a rejected
// candidate leaves the old file in place, and is reported in logs, metrics
// and the resource's health), then a reload command tells the consumer.
package renderer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Options configure a Renderer.
type Options struct {
	// Noop renders and checks but never replaces a file or reloads.
	Noop bool
	// OpTimeout bounds each etcd read (default 5s).
	OpTimeout time.Duration
	Log       *slog.Logger
	// Registerer gets the renderer's metrics; nil registers none.
	Registerer prometheus.Registerer
	// OnStatus, if set, is told each resource's status after every render.
	OnStatus func(Status)
}

// Status is the state of one resource after its last render.
type Status struct {
	Name     string    `json:"name"`
	Dest     string    `json:"dest"`
	Revision int64     `json:"revision"` // etcd revision rendered
	Checksum string    `json:"checksum,omitempty"`
	Rendered time.Time `json:"rendered"`
	Changed  time.Time `json:"changed,omitempty"` // dest last replaced
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Stage    string    `json:"stage,omitempty"`
}

// Renderer renders a Config's resources.
type Renderer struct {
	cli     *clientv3.Client
	cfg     *Config
	opts    Options
	log     *slog.Logger
	metrics *metrics

	mu     sync.Mutex
	status map[string]Status
}

// New returns a renderer for cfg (from Load).
func New(cli *clientv3.Client, cfg *Config, opts Options) (*Renderer, error) {
	if opts.OpTimeout == 0 {
		opts.OpTimeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	for _, res := range cfg.Templates {
		m.init(res.Name)
	}
	return &Renderer{cli: cli, cfg: cfg, opts: opts, log: opts.Log, metrics: m, status: map[string]Status{}}, nil
}

// Statuses returns every resource's last status.
func (r *Renderer) Statuses() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Status
	for _, res := range r.cfg.Templates {
		if s, ok := r.status[res.Name]; ok {
			out = append(out, s)
		}
	}
	return out
}

// Once renders every resource once from the current etcd contents (confd's
// -onetime) and returns the resources' errors.
func (r *Renderer) Once(ctx context.Context) error {
	var errs []error
	for i := range r.cfg.Templates {
		res := &r.cfg.Templates[i]
		kvs, rev, err := r.list(ctx, res)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.Name, err))
			continue
		}
		if s := r.process(ctx, res, kvs, rev, time.Time{}); !s.OK {
			errs = append(errs, fmt.Errorf("%s: %s", res.Name, s.Error))
		}
	}
	return errors.Join(errs...)
}

// Run renders every resource and then again after each change, until ctx ends.
func (r *Renderer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range r.cfg.Templates {
		res := &r.cfg.Templates[i]
		wg.Add(1)
		go func() { defer wg.Done(); r.runResource(ctx, res) }()
	}
	wg.Wait()
	return nil
}

func (r *Renderer) runResource(ctx context.Context, res *Resource) {
	log := r.log.With("resource", res.Name)
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		kvs, rev, err := r.list(ctx, res)
		if err == nil {
			backoff = 250 * time.Millisecond
			r.process(ctx, res, kvs, rev, time.Time{})
			err = r.follow(ctx, res, kvs, rev)
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("etcd: list or watch failed; starting over", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// list reads the resource's prefixes at one revision.
func (r *Renderer) list(ctx context.Context, res *Resource) (map[string]string, int64, error) {
	kvs := map[string]string{}
	var rev int64
	for _, key := range res.Keys {
		octx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		get, err := r.cli.Get(octx, key, opts...)
		cancel()
		if err != nil {
			return nil, 0, err
		}
		if rev == 0 {
			rev = get.Header.Revision
		}
		for _, kv := range get.Kvs {
			kvs[string(kv.Key)] = string(kv.Value)
		}
	}
	return kvs, rev, nil
}

// follow applies watch events to kvs and renders after each debounced burst.
func (r *Renderer) follow(ctx context.Context, res *Resource, kvs map[string]string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	merged := make(chan clientv3.WatchResponse)
	for _, key := range res.Keys {
		wch := r.cli.Watch(wctx, key, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		go func() {
			for wr := range wch {
				select {
				case merged <- wr:
				case <-wctx.Done():
					return
				}
			}
			select { // closed: tell the loop (unless it is going away)
			case merged <- clientv3.WatchResponse{Canceled: true}:
			case <-wctx.Done():
			}
		}()
	}
	var first, last time.Time // of the pending burst
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr := <-merged:
			if wr.CompactRevision != 0 {
				return fmt.Errorf("watch compacted at %d", wr.CompactRevision)
			}
			if err := wr.Err(); err != nil {
				return err
			}
			if wr.Canceled {
				return errors.New("watch closed")
			}
			if len(wr.Events) == 0 {
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					delete(kvs, string(ev.Kv.Key))
				} else {
					kvs[string(ev.Kv.Key)] = string(ev.Kv.Value)
				}
			}
			rev = max(rev, wr.Header.Revision)
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			last = now
			// Render after wait.min of quiet, but no later than wait.max after the burst began.
			due := last.Add(res.Wait.Min)
			if limit := first.Add(res.Wait.Max); limit.Before(due) {
				due = limit
			}
			timer.Reset(time.Until(due))
		case <-timer.C:
			r.process(ctx, res, kvs, rev, first)
			first = time.Time{}
		}
	}
}

// process renders one resource and records the outcome in logs, metrics and status.
func (r *Renderer) process(ctx context.Context, res *Resource, kvs map[string]string, rev int64, since time.Time) Status {
	v := &view{kvs: maps.Clone(kvs), prefix: r.cfg.Prefix}
	start := time.Now()
	o := r.render(ctx, res, v)
	log := r.log.With("resource", res.Name, "dest", res.Dest, "revision", rev)

	r.mu.Lock()
	st := r.status[res.Name]
	r.mu.Unlock()
	st.Name, st.Dest, st.Revision, st.Rendered = res.Name, res.Dest, rev, start
	st.OK, st.Error, st.Stage = o.Err == nil, "", ""
	if o.Err != nil {
		st.Error, st.Stage = o.Err.Error(), o.Stage
	}
	result := "unchanged"
	switch {
	case o.Err != nil && o.Stage == "template":
		result = "template_error"
	case o.Err != nil && o.Stage == "check":
		result = "check_failed"
		r.metrics.checkFailures.WithLabelValues(res.Name).Inc()
	case o.Err != nil && o.Stage == "write":
		result = "write_error"
	case o.Stage == "noop":
		result = "noop"
	case o.Changed:
		result = "changed"
	}
	r.metrics.renders.WithLabelValues(res.Name, result).Inc()

	switch {
	case o.Err != nil && o.Stage == "reload":
		// The new file is in place; the consumer may not have it.
		st.Checksum, st.Changed = o.Checksum, time.Now()
		r.metrics.reloadFailures.WithLabelValues(res.Name).Inc()
		log.Error("reload failed", "err", o.Err, "checksum", short(o.Checksum))
	case o.Err != nil:
		log.Error("render failed; the destination keeps its last good content", "stage", o.Stage, "err", o.Err)
	case o.Stage == "noop":
		log.Info("noop: would replace the destination and reload", "checksum", short(o.Checksum))
	case o.Changed:
		st.Checksum, st.Changed = o.Checksum, time.Now()
		attrs := []any{"checksum", short(o.Checksum), "render_ms", time.Since(start).Milliseconds()}
		if res.ReloadCmd != "" {
			r.metrics.reloads.WithLabelValues(res.Name).Inc()
		}
		if !since.IsZero() {
			lat := time.Since(since)
			r.metrics.latency.WithLabelValues(res.Name).Observe(lat.Seconds())
			attrs = append(attrs, "watch_to_reload_ms", lat.Milliseconds())
		}
		log.Info("destination updated and reloaded", attrs...)
	default:
		st.Checksum = o.Checksum
		log.Debug("rendered; destination unchanged", "checksum", short(o.Checksum))
	}
	if st.OK {
		r.metrics.failing.WithLabelValues(res.Name).Set(0)
		r.metrics.lastSuccess.WithLabelValues(res.Name).SetToCurrentTime()
	} else {
		r.metrics.failing.WithLabelValues(res.Name).Set(1)
	}
	if o.Stage != "template" {
		r.metrics.members.DeletePartialMatch(prometheus.Labels{"resource": res.Name})
		all, _ := v.members() // an error fails the render at stage "template" when a template reads members
		for service, ms := range all {
			counts := map[string]int{}
			for _, m := range ms {
				counts[m.Health]++
			}
			for h, n := range counts {
				r.metrics.members.WithLabelValues(res.Name, service, h).Set(float64(n))
			}
		}
	}
	r.mu.Lock()
	r.status[res.Name] = st
	r.mu.Unlock()
	if r.opts.OnStatus != nil {
		r.opts.OnStatus(st)
	}
	return st
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
