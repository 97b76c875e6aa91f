// Package dockerwatch registers Docker containers with the membership service
// from their labels: a running container labelled hindsight.service=<name>
// and hindsight.port=<port> becomes a member (address from its network
// settings) whose lease the agent keeps alive; it is deregistered when the
// container dies or is removed. The watcher follows the engine's event stream
// and reconciles with the running containers at start, after every
// reconnection and every --resync period, so nothing is missed while the
// agent or the engine was away.
//
// When the agent stops, members are left in place: the containers still run.
// Their leases expire after the TTL unless an agent (this one restarted)
// registers them again; at start the watcher also deregisters members this
// node registered whose container no longer runs.
package dockerwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/reconnect"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// Docker is the part of the Docker Engine API client the watcher uses.
type Docker interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

var _ Docker = (*client.Client)(nil)

// Options configure a Watcher.
type Options struct {
	// Node names this agent's host; members carry it (label docker.node) so a
	// restarted agent finds the ones it registered. Required.
	Node string
	// Network is the Docker network whose address is registered when a
	// container has no hindsight.network label ("" = its only network).
	Network string
	// DefaultTTL is the lease TTL when a container has no hindsight.ttl label.
	DefaultTTL time.Duration
	// Resync is how often the watcher reconciles with the running
	// containers besides the event stream (0: only at start and reconnect).
	Resync time.Duration
	// CallTimeout bounds each call to the engine and to membership.
	CallTimeout time.Duration
	Log         *slog.Logger
	Registerer  prometheus.Registerer
}

// Watcher keeps the membership service in step with the labelled containers.
type Watcher struct {
	docker  Docker
	members membershipv1.MembershipServiceClient
	opts    Options
	log     *slog.Logger
	metrics *metrics

	// regs is touched only by Run's goroutine.
	regs map[string]*registration // by container id
}

// registration is one container's member and the loop keeping its lease.
type registration struct {
	spec   spec
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a watcher; Run starts it.
func New(docker Docker, members membershipv1.MembershipServiceClient, opts Options) (*Watcher, error) {
	if opts.Node == "" {
		return nil, errors.New("dockerwatch: node name required")
	}
	opts.DefaultTTL = cmp.Or(opts.DefaultTTL, 10*time.Second)
	opts.CallTimeout = cmp.Or(opts.CallTimeout, 5*time.Second)
	opts.Log = cmp.Or(opts.Log, slog.Default())
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Watcher{docker: docker, members: members, opts: opts, log: opts.Log.With("component", "dockerwatch"), metrics: m, regs: map[string]*registration{}}, nil
}

// Run follows the engine until ctx ends, reconnecting with backoff. On return
// the keep-alive loops have stopped; members are left to their leases.
func (w *Watcher) Run(ctx context.Context) error {
	defer func() {
		for _, r := range w.regs {
			r.cancel()
			<-r.done
		}
	}()
	return reconnect.Forever(ctx, w.log, "docker events: stream ended; reconnecting", func(ctx context.Context) error {
		err := w.follow(ctx)
		w.metrics.engineUp.Set(0)
		return err
	})
}

// follow subscribes to container events, reconciles, then applies events
// until the stream fails.
func (w *Watcher) follow(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before listing, so nothing that happens during the list is lost.
	stream := w.docker.Events(sctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionStart), string(events.ActionKill), string(events.ActionDie), string(events.ActionDestroy)).
		Add("label", LabelService)})
	if err := w.reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	w.metrics.engineUp.Set(1)
	var resync <-chan time.Time
	if w.opts.Resync > 0 {
		t := time.NewTicker(w.opts.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-stream.Err:
			if err == nil {
				err = errors.New("closed by the engine")
			}
			return err
		case msg := <-stream.Messages:
			w.handle(ctx, msg)
		case <-resync:
			if err := w.reconcile(ctx); err != nil {
				w.log.Warn("periodic reconcile failed", "err", err)
			}
		}
	}
}

func (w *Watcher) handle(ctx context.Context, msg events.Message) {
	id := msg.Actor.ID
	w.metrics.events.WithLabelValues(string(msg.Action)).Inc()
	w.log.Debug("docker event", "action", msg.Action, "container", short(id), "name", msg.Actor.Attributes["name"])
	switch msg.Action {
	case events.ActionStart:
		w.startContainer(ctx, id)
	case events.ActionKill:
		// The engine reports the signal as soon as it sends it, well before
		// "die" (which waits for the exit to be reaped; seen taking more than
		// a second on a busy engine). A stopping signal means the container is
		// going away: take it out now, so load balancers drain it while it
		// exits (docker stop's SIGTERM) or stop sending to it at once
		// (SIGKILL). Other signals (HUP for a reload, USR1...) leave it in.
		if sig := msg.Actor.Attributes["signal"]; stopping(sig) {
			w.stopContainer(ctx, id, "kill "+sig)
		}
	case events.ActionDie, events.ActionDestroy:
		w.stopContainer(ctx, id, string(msg.Action))
	}
}

// stopping says whether a signal (as the engine reports it: "9", "SIGKILL"
// or "KILL") ends a process by default.
func stopping(sig string) bool {
	switch strings.TrimPrefix(strings.ToUpper(sig), "SIG") {
	case "9", "KILL", "15", "TERM", "2", "INT", "3", "QUIT":
		return true
	}
	return false
}

// reconcile registers every running labelled container not registered yet,
// deregisters what this agent holds for containers no longer running, and
// members of this node that no registration accounts for (left by an
// earlier run of the agent).
func (w *Watcher) reconcile(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
	list, err := w.docker.ContainerList(cctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", LabelService)})
	cancel()
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	running := map[string]bool{}
	for _, c := range list.Items {
		if c.State != container.StateRunning {
			continue
		}
		running[c.ID] = true
		if w.regs[c.ID] == nil {
			w.startContainer(ctx, c.ID)
		}
	}
	for id := range w.regs {
		if !running[id] {
			w.stopContainer(ctx, id, "reconcile")
		}
	}
	w.metrics.reconciles.Inc()
	return w.removeOrphans(ctx)
}

// removeOrphans deregisters members labelled with this node that no current
// registration owns.
func (w *Watcher) removeOrphans(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
	defer cancel()
	resp, err := w.members.ListMembers(cctx, &membershipv1.ListMembersRequest{})
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	owned := map[string]bool{}
	for _, r := range w.regs {
		owned[r.spec.service()+"/"+r.spec.id()] = true
	}
	for _, m := range resp.Members {
		if m.Labels[MemberLabelNode] != w.opts.Node || owned[m.Service+"/"+m.Id] {
			continue
		}
		w.log.Info("deregistering a member of this node whose container is gone", "service", m.Service, "id", m.Id, "container", short(m.Labels[MemberLabelContainerID]))
		w.deregister(ctx, m.Service, m.Id)
	}
	return nil
}

// startContainer inspects a container and, if it is labelled, running and
// its labels make sense, registers it and keeps its lease alive.
func (w *Watcher) startContainer(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
	res, err := w.docker.ContainerInspect(cctx, id, client.ContainerInspectOptions{})
	cancel()
	if err != nil {
		if !cerrdefs.IsNotFound(err) {
			w.log.Warn("inspect container", "container", short(id), "err", err)
		}
		return
	}
	c := res.Container
	if c.Config == nil || !labelled(c.Config.Labels) || c.State == nil || !c.State.Running {
		return
	}
	sp, err := specFor(c, w.opts.Node, w.opts.Network, w.opts.DefaultTTL)
	if err != nil {
		w.metrics.invalid.Inc()
		w.log.Error("container not registered: bad labels or network", "container", short(id), "name", c.Name, "err", err)
		return
	}
	if old := w.regs[id]; old != nil {
		old.cancel()
		<-old.done
		if old.spec.service() != sp.service() || old.spec.id() != sp.id() {
			w.deregister(ctx, old.spec.service(), old.spec.id())
		}
	}
	rctx, rcancel := context.WithCancel(ctx)
	r := &registration{spec: sp, cancel: rcancel, done: make(chan struct{})}
	w.regs[id] = r
	w.metrics.registered.Set(float64(len(w.regs)))
	registered := make(chan struct{})
	go func() {
		defer close(r.done)
		w.keepAlive(rctx, sp, registered)
	}()
	// Wait for the first registration (bounded), so events are applied in
	// order: a quick die right after start then deregisters what was stored.
	select {
	case <-registered:
	case <-r.done:
	case <-time.After(w.opts.CallTimeout):
	}
}

// stopContainer stops a container's keep-alive and deregisters it.
func (w *Watcher) stopContainer(ctx context.Context, id, why string) {
	r := w.regs[id]
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
	delete(w.regs, id)
	w.metrics.registered.Set(float64(len(w.regs)))
	w.log.Info("container gone; deregistering", "why", why, "container", short(id), "service", r.spec.service(), "id", r.spec.id())
	w.deregister(ctx, r.spec.service(), r.spec.id())
}

func (w *Watcher) deregister(ctx context.Context, service, id string) {
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
		_, err := w.members.Deregister(cctx, &membershipv1.DeregisterRequest{Service: service, Id: id})
		cancel()
		switch status.Code(err) {
		case codes.OK, codes.NotFound:
			w.metrics.deregistrations.WithLabelValues("ok").Inc()
			return
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
			if ctx.Err() != nil {
				return
			}
			time.Sleep(200 * time.Millisecond << attempt)
			continue
		}
		w.metrics.deregistrations.WithLabelValues("error").Inc()
		w.log.Error("deregister failed; the member leaves when its lease expires", "service", service, "id", id, "err", err)
		return
	}
	w.metrics.deregistrations.WithLabelValues("error").Inc()
	w.log.Error("deregister failed: membership unavailable; the member leaves when its lease expires", "service", service, "id", id)
}

// keepAlive registers the member and renews its lease every TTL/3 until ctx
// ends, registering again whenever the membership service lost it (lease
// expired while membership or etcd was away). registered is closed after the
// first successful registration.
func (w *Watcher) keepAlive(ctx context.Context, sp spec, registered chan struct{}) {
	log := w.log.With("service", sp.service(), "id", sp.id(), "container", short(sp.containerID))
	period := max(sp.req.Ttl.AsDuration()/3, 200*time.Millisecond)
	needRegister := true
	var retry time.Duration
	for {
		if needRegister {
			cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
			resp, err := w.members.Register(cctx, sp.req)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.metrics.registrations.WithLabelValues("error").Inc()
				if status.Code(err) == codes.InvalidArgument {
					log.Error("membership refused the registration; fix the container's labels", "err", err)
					return
				}
				retry = min(max(2*retry, 250*time.Millisecond), period)
				log.Warn("register failed; retrying", "err", err, "retry_in", retry)
				if !sleep(ctx, retry) {
					return
				}
				continue
			}
			w.metrics.registrations.WithLabelValues("ok").Inc()
			log.Info("container registered", "address", resp.Member.Address, "port", resp.Member.Port, "ttl", resp.Member.Ttl.AsDuration())
			needRegister, retry = false, 0
			select {
			case <-registered:
			default:
				close(registered)
			}
		}
		if !sleep(ctx, period) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
		_, err := w.members.KeepAlive(cctx, &membershipv1.KeepAliveRequest{Service: sp.service(), Id: sp.id()})
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch status.Code(err) {
		case codes.OK:
			w.metrics.keepalives.WithLabelValues("ok").Inc()
		case codes.NotFound:
			w.metrics.keepalives.WithLabelValues("not_found").Inc()
			log.Warn("member lost its lease; registering again")
			needRegister = true
		default:
			w.metrics.keepalives.WithLabelValues("error").Inc()
			log.Warn("keepalive failed; trying again", "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
