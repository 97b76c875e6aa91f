// Package capture watches the traffic of the node's containers with no
// instrumentation, as Packetbeat did: AF_PACKET sockets (pure Go, no libpcap)
// on the Docker networks' bridges, TCP reassembly per connection, decoders
// for HTTP/1.x, Redis (RESP) and PostgreSQL that pair each request with its
// response, and flows (source and destination service, operation, status,
// latency) sent to the topology service. Addresses are mapped to containers
// and services through the Docker engine API.
//
// Memory is bounded: connections tracked, bytes buffered out of order and per
// message head, requests waiting for an answer and flow records between two
// flushes all have limits; what goes past them is dropped and counted.
package capture

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// Options configure a Capture.
type Options struct {
	// Interfaces to capture on. Empty: the bridges of the Docker networks
	// named in Networks (all bridge networks when that is empty too),
	// followed as networks come and go.
	Interfaces []string
	Networks   []string
	Directory  *Directory
	Reporter   *Reporter
	Limits     Limits
	Log        *slog.Logger
	Metrics    *Metrics
}

// Capture runs one reader per interface.
type Capture struct {
	opt Options
}

// New returns a capture; Run starts it.
func New(opt Options) (*Capture, error) {
	if opt.Reporter == nil || opt.Metrics == nil || opt.Log == nil {
		return nil, errors.New("capture: reporter, metrics and log are required")
	}
	if len(opt.Interfaces) == 0 && opt.Directory == nil {
		return nil, errors.New("capture: no interfaces and no Docker directory to find them")
	}
	return &Capture{opt: opt}, nil
}

// wanted lists the interfaces to capture on now.
func (c *Capture) wanted() []string {
	if len(c.opt.Interfaces) > 0 {
		return c.opt.Interfaces
	}
	var out []string
	for _, n := range c.opt.Directory.Networks() {
		if len(c.opt.Networks) == 0 || slices.Contains(c.opt.Networks, n.Name) {
			out = append(out, n.Interface)
		}
	}
	return out
}

// Run captures until ctx ends, starting readers for new interfaces and
// stopping those of interfaces gone, every second.
func (c *Capture) Run(ctx context.Context) error {
	type reader struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	readers := map[string]*reader{}
	failed := map[string]time.Time{} // interfaces that could not be opened, retried later
	defer func() {
		for _, r := range readers {
			r.cancel()
			<-r.done
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		want := c.wanted()
		for name, r := range readers {
			select {
			case <-r.done: // ended by an error: reopen below
				delete(readers, name)
				continue
			default:
			}
			if !slices.Contains(want, name) {
				r.cancel()
				<-r.done
				delete(readers, name)
				c.opt.Log.Info("capture stopped", "interface", name)
			}
		}
		for _, name := range want {
			if readers[name] != nil || time.Since(failed[name]) < 5*time.Second {
				continue
			}
			src, err := openSource(name)
			if err != nil {
				if failed[name].IsZero() {
					c.opt.Log.Warn("cannot capture", "interface", name, "err", err)
				}
				failed[name] = time.Now()
				continue
			}
			delete(failed, name)
			rctx, cancel := context.WithCancel(ctx)
			r := &reader{cancel: cancel, done: make(chan struct{})}
			readers[name] = r
			go func() {
				defer close(r.done)
				if err := c.read(rctx, src); err != nil {
					c.opt.Log.Warn("capture failed", "interface", name, "err", err)
				}
			}()
			c.opt.Log.Info("capturing", "interface", name)
		}
		c.opt.Metrics.interfaces.Set(float64(len(readers)))
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// read runs one interface's loop: read a frame, reassemble, decode. Its
// reassembler is its own, so the hot path takes no lock.
func (c *Capture) read(ctx context.Context, src *source) error {
	defer src.close()
	asm := newAssembler(c.opt.Limits, c.opt.Reporter.Add)
	var published Counters
	next := time.Now().Add(time.Second)
	for ctx.Err() == nil {
		if err := src.read(asm.frame); err != nil {
			return err
		}
		if now := time.Now(); now.After(next) {
			asm.sweep(now)
			c.opt.Metrics.publish(src.iface, &asm.c, &published, len(asm.conns), asm.buffered)
			c.opt.Metrics.kernelDrops.WithLabelValues(src.iface).Add(float64(src.drops()))
			next = now.Add(time.Second)
		}
	}
	return nil
}

// Compile-time check that the directory resolves addresses for the reporter.
var _ Resolver = (*Directory)(nil)
