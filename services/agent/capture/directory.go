package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/hindsight-dev/hindsight/internal/reconnect"
)

// Labels naming a container's service, most specific first; without them
// the service is the image's name.
const (
	LabelService        = "hindsight.service"
	LabelComposeService = "com.docker.compose.service"
)

// Docker is the part of the engine API the directory uses.
type Docker interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
}

var _ Docker = (*client.Client)(nil)

// Network is a Docker bridge network and the host interface of its bridge.
type Network struct {
	Name, Interface string
}

// goneGrace keeps a stopped container's addresses known for a while: its
// last requests (and the failures of its clients) are decoded after it died.
const goneGrace = time.Minute

// Directory maps addresses to the containers of this node and lists the
// bridge networks, following the Docker engine's events (and re-reading
// everything every Resync, in case an event was missed). Lookups are
// lock-free reads of the current snapshot.
type Directory struct {
	docker Docker
	resync time.Duration
	log    *slog.Logger

	addrs    atomic.Pointer[map[netip.Addr]Container]
	networks atomic.Pointer[[]Network]

	mu   sync.Mutex
	gone map[netip.Addr]goneEntry // read and written by refresh only
}

type goneEntry struct {
	c     Container
	since time.Time
}

// NewDirectory returns a directory; Run fills it.
func NewDirectory(docker Docker, resync time.Duration, log *slog.Logger) *Directory {
	if resync <= 0 {
		resync = 30 * time.Second
	}
	d := &Directory{docker: docker, resync: resync, log: log, gone: map[netip.Addr]goneEntry{}}
	empty := map[netip.Addr]Container{}
	d.addrs.Store(&empty)
	d.networks.Store(&[]Network{})
	return d
}

// Lookup implements Resolver.
func (d *Directory) Lookup(ip netip.Addr) (Container, bool) {
	c, ok := (*d.addrs.Load())[ip]
	return c, ok
}

// Networks returns the bridge networks known now.
func (d *Directory) Networks() []Network { return *d.networks.Load() }

// ServiceName names a container's service: its hindsight.service label, its
// Compose service, else its image's name without registry, path or tag
// ("registry:5000/team/redis:7" → "redis").
func ServiceName(labels map[string]string, image string) string {
	if s := labels[LabelService]; s != "" {
		return s
	}
	if s := labels[LabelComposeService]; s != "" {
		return s
	}
	image, _, _ = strings.Cut(image, "@")
	name := path.Base(image)
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		name = name[:i]
	}
	return name
}

// Run follows the engine until ctx ends, reconnecting when its event stream
// fails.
func (d *Directory) Run(ctx context.Context) error {
	return reconnect.Forever(ctx, d.log, "docker directory: engine unreachable; retrying", d.follow)
}

func (d *Directory) follow(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe first, so nothing that happens while listing is missed.
	stream := d.docker.Events(sctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", string(events.ContainerEventType), string(events.NetworkEventType))})
	if err := d.Refresh(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(d.resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-stream.Err:
			if err == nil {
				err = errors.New("event stream closed by the engine")
			}
			return err
		case msg := <-stream.Messages:
			switch msg.Action {
			case events.ActionStart, events.ActionDie, events.ActionDestroy, events.ActionCreate,
				events.ActionConnect, events.ActionDisconnect:
				// Events come in bursts (a start is a create, connect and
				// start): take the rest of the burst before re-reading.
				drain(stream.Messages, 50*time.Millisecond)
				if err := d.Refresh(ctx); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := d.Refresh(ctx); err != nil {
				return err
			}
		}
	}
}

func drain(c <-chan events.Message, quiet time.Duration) {
	for {
		select {
		case <-c:
		case <-time.After(quiet):
			return
		}
	}
}

// Refresh re-reads the running containers and the networks.
func (d *Directory) Refresh(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := d.docker.ContainerList(cctx, client.ContainerListOptions{})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	nets, err := d.docker.NetworkList(cctx, client.NetworkListOptions{})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	now := time.Now()
	addrs := map[netip.Addr]Container{}
	for _, c := range list.Items {
		if c.State != container.StateRunning || c.NetworkSettings == nil {
			continue
		}
		name := c.ID[:min(12, len(c.ID))]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		info := Container{Name: name, Service: ServiceName(c.Labels, c.Image)}
		for _, ep := range c.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			for _, ip := range []netip.Addr{ep.IPAddress, ep.GlobalIPv6Address} {
				if ip.IsValid() {
					addrs[ip] = info
				}
			}
		}
	}
	d.mu.Lock()
	for ip, c := range *d.addrs.Load() {
		if _, ok := addrs[ip]; !ok {
			if _, known := d.gone[ip]; !known {
				d.gone[ip] = goneEntry{c: c, since: now}
			}
		}
	}
	for ip, g := range d.gone {
		_, reused := addrs[ip]
		switch {
		case reused || now.Sub(g.since) > goneGrace:
			delete(d.gone, ip)
		default:
			addrs[ip] = g.c
		}
	}
	d.mu.Unlock()
	d.addrs.Store(&addrs)

	var networks []Network
	for _, n := range nets.Items {
		if n.Driver != "bridge" {
			continue
		}
		iface := n.Options["com.docker.network.bridge.name"]
		if iface == "" {
			iface = "br-" + n.ID[:min(12, len(n.ID))]
		}
		networks = append(networks, Network{Name: n.Name, Interface: iface})
	}
	slices.SortFunc(networks, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	d.networks.Store(&networks)
	return nil
}
