// Package health probes the members of the membership registry that carry a
// health check (TCP connect or HTTP GET) and records the result in the
// member's stored value: a failing member is marked UNHEALTHY, not deleted,
// and comes back HEALTHY when its probe succeeds again. Results are damped by
// the check's threshold (consecutive results needed to change state).
//
// Writes keep the member's lease (etcd's ignore_lease) and are a
// compare-and-swap on the key's mod revision, so a probe that finishes after
// the member was deregistered, or registered again, never brings back or
// overwrites what is there now.
//
// One prober acts at a time. Every membership replica runs a Prober, and they
// elect a leader through an etcd lease (go.etcd.io/etcd/client/v3/concurrency);
// only the leader probes. Why an election rather than sharding members across
// replicas: probing is cheap (one connection per member per interval, so one
// process handles thousands), a single writer needs no agreement on who owns
// which member while replicas come and go, and the leader's key fences every
// write (the write's transaction also compares the leader key's create
// revision), so a deposed leader that has not noticed yet cannot write.
// Failover takes at most the election session's TTL.
//
// Probes go from the membership service to each member's registered address,
// so membership must reach the networks members register on (as a load
// balancer must); a member it cannot reach is reported unhealthy.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/protobuf/encoding/protojson"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Defaults of Options.
const (
	DefaultElectionPrefix = "/hindsight/leaders/membership-prober"
	DefaultSessionTTL     = 5 * time.Second
	DefaultOpTimeout      = 3 * time.Second
)

// Options configure a Prober; zero fields take the defaults.
type Options struct {
	// Prefix is the registry's key prefix (api.DefaultPrefix of services/membership/api).
	Prefix string
	// ElectionPrefix is where replicas elect the acting prober. It must be
	// outside Prefix (keys there are read as members).
	ElectionPrefix string
	// SessionTTL is the election lease's TTL: how long a crashed leader
	// blocks the others (whole seconds, at least 1s).
	SessionTTL time.Duration
	// OpTimeout bounds each etcd call.
	OpTimeout time.Duration
	// Identity names this replica in the election (default host name + pid).
	Identity string
	Log      *slog.Logger
	// Registerer gets the prober's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Prober runs the health checks of the registry's members.
type Prober struct {
	cli     *clientv3.Client
	opts    Options
	log     *slog.Logger
	metrics *metrics
}

// New returns a prober; Run starts it.
func New(cli *clientv3.Client, opts Options) (*Prober, error) {
	if opts.Prefix == "" {
		return nil, errors.New("health: the registry prefix is required")
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.ElectionPrefix == "" {
		opts.ElectionPrefix = DefaultElectionPrefix
	}
	if strings.HasPrefix(opts.ElectionPrefix, opts.Prefix) {
		return nil, fmt.Errorf("health: election prefix %q must be outside the members prefix %q", opts.ElectionPrefix, opts.Prefix)
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.SessionTTL < time.Second {
		return nil, fmt.Errorf("health: session TTL %s below etcd's 1s minimum", opts.SessionTTL)
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		opts.Identity = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Prober{cli: cli, opts: opts, log: opts.Log.With("component", "prober"), metrics: m}, nil
}

// Run campaigns for leadership and probes while leader, until ctx ends. It
// returns nil after ctx ends; etcd errors are retried.
func (p *Prober) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := p.lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("prober: leadership lost or etcd unavailable; campaigning again", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

// lead wins the election, then probes until leadership or ctx ends.
func (p *Prober) lead(ctx context.Context) error {
	sess, err := concurrency.NewSession(p.cli, concurrency.WithTTL(int((p.opts.SessionTTL+time.Second-1)/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("election session: %w", err)
	}
	defer sess.Close() // revokes the lease: a follower takes over at once
	el := concurrency.NewElection(sess, p.opts.ElectionPrefix)
	p.log.Debug("prober: campaigning", "identity", p.opts.Identity)
	if err := el.Campaign(ctx, p.opts.Identity); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	p.log.Info("prober: leading; probing members", "identity", p.opts.Identity, "lease", sess.Lease())
	p.metrics.leader.Set(1)
	defer p.metrics.leader.Set(0)
	// On the way out, give the lease back with a fresh context (the session's
	// own Close uses ctx, cancelled by then), so a follower takes over at once
	// instead of after the TTL.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = p.cli.Revoke(rctx, sess.Lease())
	}()

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	f := fence{key: el.Key(), rev: el.Rev()}
	for {
		err = p.probeMembers(lctx, f)
		if ctx.Err() != nil {
			return nil
		}
		if sess.Ctx().Err() != nil || errors.Is(err, errNotLeader) {
			return fmt.Errorf("lost leadership: %w", err)
		}
		// A broken watch (compaction, etcd restart) is not a reason to hand
		// leadership over: list again while the session lives.
		p.log.Warn("prober: member watch failed; listing again", "err", err)
		select {
		case <-lctx.Done():
			return fmt.Errorf("lost leadership: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// fence is the leader key every write is conditioned on.
type fence struct {
	key string
	rev int64
}

var errNotLeader = errors.New("no longer the leader")

// worker is the probe loop of one member.
type worker struct {
	spec   string
	stored chan membershipv1.Health // health stored by someone else (e.g. registered again)
	cancel context.CancelFunc
	done   chan struct{}
}

// probeMembers lists the members and then follows the watch, keeping one
// probe loop per member with a health check.
func (p *Prober) probeMembers(ctx context.Context, f fence) error {
	workers := map[string]*worker{}
	var wg sync.WaitGroup
	defer func() {
		for _, w := range workers {
			w.cancel()
		}
		wg.Wait()
		p.metrics.probed.Set(0)
	}()
	errc := make(chan error, 1)
	upsert := func(key string, value []byte) {
		m, err := p.decode(key, value)
		if err != nil {
			p.log.Warn("prober: skipping undecodable member", "key", key, "err", err)
			return
		}
		w := workers[key]
		if m.GetHealthCheck() == nil || m.GetHealthCheck().GetProbe() == nil {
			if w != nil {
				w.cancel()
				delete(workers, key)
			}
			return
		}
		spec := specOf(m)
		if w != nil && w.spec == spec {
			select { // tell the loop what is stored now (drop a stale value first)
			case <-w.stored:
			default:
			}
			w.stored <- m.GetHealth()
			return
		}
		if w != nil {
			w.cancel()
		}
		wctx, cancel := context.WithCancel(ctx)
		w = &worker{spec: spec, stored: make(chan membershipv1.Health, 1), cancel: cancel, done: make(chan struct{})}
		workers[key] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(w.done)
			if err := p.probeLoop(wctx, key, m, f, w.stored); errors.Is(err, errNotLeader) {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	remove := func(key string) {
		if w := workers[key]; w != nil {
			w.cancel()
			delete(workers, key)
		}
	}

	octx, ocancel := context.WithTimeout(ctx, p.opts.OpTimeout)
	get, err := p.cli.Get(octx, p.opts.Prefix, clientv3.WithPrefix())
	ocancel()
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	for _, kv := range get.Kvs {
		upsert(string(kv.Key), kv.Value)
	}
	p.metrics.probed.Set(float64(len(workers)))
	wch := p.cli.Watch(clientv3.WithRequireLeader(ctx), p.opts.Prefix, clientv3.WithPrefix(), clientv3.WithRev(get.Header.Revision+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					remove(string(ev.Kv.Key))
				} else {
					upsert(string(ev.Kv.Key), ev.Kv.Value)
				}
			}
			// Drop loops that ended by themselves (member gone during a write).
			for k, w := range workers {
				select {
				case <-w.done:
					delete(workers, k)
				default:
				}
			}
			p.metrics.probed.Set(float64(len(workers)))
		}
	}
}

func (p *Prober) decode(key string, value []byte) (*membershipv1.Member, error) {
	service, id, ok := strings.Cut(strings.TrimPrefix(key, p.opts.Prefix), "/")
	if !ok || service == "" || id == "" {
		return nil, errors.New("not <prefix><service>/<id>")
	}
	m := &membershipv1.Member{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(value, m); err != nil {
		return nil, err
	}
	m.Service, m.Id = service, id
	return m, nil
}

// probeLoop probes one member every interval and writes health transitions.
// It ends when ctx ends, when the member is gone, or when leadership is lost.
func (p *Prober) probeLoop(ctx context.Context, key string, m *membershipv1.Member, f fence, stored <-chan membershipv1.Health) error {
	c := newCheck(m)
	log := p.log.With("service", m.Service, "id", m.Id, "addr", c.addr)
	d := damper{state: m.GetHealth(), threshold: c.threshold}
	current := m.GetHealth()
	log.Debug("prober: probing", "interval", c.interval, "timeout", c.timeout, "threshold", c.threshold, "health", current)
	// Spread members' probes over the interval after the first, which runs
	// at once so a new member's health is known quickly.
	var wait time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-stored:
			if h != current {
				current = h
				d.reset(h)
			}
			continue
		case <-time.After(wait):
		}
		if wait == 0 {
			wait = c.interval - time.Duration(rand.Int64N(int64(c.interval)/10+1))
		} else {
			wait = c.interval
		}
		start := time.Now()
		err := c.probe(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.metrics.observeProbe(m.Service, err == nil, time.Since(start))
		want := d.observe(err == nil)
		if want == current {
			continue
		}
		switch werr := p.write(ctx, key, specOf(m), want, f); {
		case werr == nil:
			log.Info("member health changed", "from", current.String(), "to", want.String(), "probe_err", errString(err))
			p.metrics.transition(m.Service, want)
			current = want
		case errors.Is(werr, errGone):
			log.Debug("prober: member gone or changed; probe stops", "err", werr)
			return nil
		case errors.Is(werr, errNotLeader):
			return werr
		default:
			// Tried again at the next probe: the damper still wants the change.
			log.Warn("prober: could not store health; retrying at the next probe", "to", want.String(), "err", werr)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var errGone = errors.New("member deleted or re-registered elsewhere")

// write stores the member's new health: a compare-and-swap on the key's mod
// revision, keeping its lease, and only while this replica leads.
func (p *Prober) write(ctx context.Context, key, spec string, h membershipv1.Health, f fence) error {
	for attempt := 0; attempt < 3; attempt++ {
		octx, cancel := context.WithTimeout(ctx, p.opts.OpTimeout)
		get, err := p.cli.Get(octx, key)
		if err != nil {
			cancel()
			return err
		}
		if len(get.Kvs) == 0 {
			cancel()
			return errGone
		}
		kv := get.Kvs[0]
		m, err := p.decode(key, kv.Value)
		if err != nil {
			cancel()
			return fmt.Errorf("%w: %v", errGone, err)
		}
		if specOf(m) != spec {
			cancel()
			return errGone // its probe restarts from the watch event
		}
		if m.Health == h {
			cancel()
			return nil
		}
		m.Health = h
		value, err := protojson.Marshal(m)
		if err != nil {
			cancel()
			return err
		}
		txn, err := p.cli.Txn(octx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision),
				clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)).
			Then(clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease())).
			Else(clientv3.OpGet(f.key)).
			Commit()
		cancel()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
		if lead := txn.Responses[0].GetResponseRange(); lead == nil || len(lead.Kvs) == 0 || lead.Kvs[0].CreateRevision != f.rev {
			return errNotLeader
		}
		// The member changed between the read and the write: read it again.
	}
	return errors.New("member keeps changing")
}
