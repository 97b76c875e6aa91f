// Package harvester is the agent's log shipper (what Filebeat or Vector's
// file source did): it tails files matched by glob patterns, turns them into
// lines (optionally joined into multiline events and filtered), and ships them
// in batches to a router over RoutingService.Ingest. Inputs are configured,
// or found while it runs (inputs.go): the folders of a dataset_folders
// input, the node's containers (package containers), each started as it
// appears, without a restart. Container logs' envelopes are decoded by
// package envelope.
//
// Guarantees: a file's offset advances in the registry only when the router
// has acknowledged every line before it (and the router acknowledges only
// after Kafka committed), so nothing read is lost when the router, Kafka or
// the agent fails; after a crash at most the unacknowledged lines are sent
// again, and their deterministic source (host, file id, offset) lets every
// sink drop the duplicates. Files are identified by a fingerprint of their
// first bytes, not by inode, which survives renames and cannot be fooled by
// inode reuse. Rotation (rename, copytruncate, deletion) is handled in
// rotation.go; memory is bounded by the shipping window, since reading
// pauses when it is full: the files are the buffer.
package harvester

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routers"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/shipper"
)

// keepaliveTime is how long a connection to a router may be silent before
// the agent pings it, keepaliveTimeout how long the ping may go unanswered
// before the connection is given up and its batches resent elsewhere.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// Harvester ships the files of its inputs; create it with New and run it with Run.
type Harvester struct {
	cfg     Config
	log     *slog.Logger
	reg     offsets.Store
	m       *metrics
	routers *routers.List
	pool    *shipper.Pool
	// static are the configured inputs; discoveries add more while running.
	static      []*input
	discoveries []Dynamic

	mu     sync.Mutex
	inputs map[string]*input     // running, by name
	files  map[string]*fileState // by id (fingerprint)
	open   map[devIno]*fileState // being read, by the inode the reader holds open

	scans, readers, shippers sync.WaitGroup
	dirty                    chan struct{}
	saveMu                   sync.Mutex
}

type devIno struct{ dev, ino uint64 }

// New checks cfg, loads the registry and registers metrics on reg. Inputs
// are cfg's and those the dynamic discoveries find while it runs. Nothing
// is read or shipped before Run.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer, dynamic ...Dynamic) (*Harvester, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(len(dynamic) > 0); err != nil {
		return nil, fmt.Errorf("harvester config: %w", err)
	}
	h := &Harvester{
		cfg:         cfg,
		log:         log,
		reg:         offsets.Store{Path: cfg.Registry, FingerprintBytes: cfg.FingerprintBytes},
		routers:     routers.NewList(cfg.Routers...),
		inputs:      map[string]*input{},
		files:       map[string]*fileState{},
		open:        map[devIno]*fileState{},
		dirty:       make(chan struct{}, 1),
		discoveries: dynamic,
	}
	if h.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	entries, err := h.reg.Load()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, e := range entries {
		h.files[e.ID] = newFileState(e, now)
	}
	h.m.registryFiles.Set(float64(len(h.files)))
	h.pool = shipper.NewPool(append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gRPC's own reconnection backoff grows to 2 minutes; keep it within
		// ours so that a router that is back is used soon.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: cfg.Backoff.Initial, Multiplier: 2, Jitter: 0.2, MaxDelay: cfg.Backoff.Max},
			MinConnectTimeout: 5 * time.Second,
		}),
		// A router that vanished (host crash, killed container) sends no FIN
		// or RST: without pings the stream would wait for the ack timeout.
		// The routers' servers permit pings this often (internal/server).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
	}, cfg.DialOptions...)...)
	for _, ic := range cfg.Inputs {
		if ic.DatasetFolders != "" {
			h.discoveries = append(h.discoveries, Dynamic{Name: ic.Name, Find: &folders{in: ic, log: log, skipped: map[string]bool{}},
				Every: ic.ScanInterval, Max: ic.MaxFolders})
			continue
		}
		h.static = append(h.static, h.newInput(ic))
	}
	return h, nil
}

// Run harvests until ctx is done, then stops reading, gives the router
// DrainTimeout to acknowledge what was read, and saves the registry.
func (h *Harvester) Run(ctx context.Context) error {
	shipCtx, stopShipping := context.WithCancel(context.Background())
	defer stopShipping()
	var bg sync.WaitGroup
	if h.cfg.Membership != "" {
		cc, err := grpc.NewClient(h.cfg.Membership, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, h.cfg.DialOptions...)...)
		if err != nil {
			return fmt.Errorf("membership %s: %w", h.cfg.Membership, err)
		}
		defer cc.Close()
		bg.Go(func() {
			routers.FollowMembership(shipCtx, membershipv1.NewMembershipServiceClient(cc), h.cfg.RouterService,
				h.cfg.Routers, h.routers, h.log)
		})
	}
	bg.Go(func() { h.saveLoop(shipCtx) })
	h.log.Info("harvesting", "inputs", len(h.static), "discoveries", len(h.discoveries), "files_known", len(h.files),
		"routers", h.routers.Addrs(), "membership", h.cfg.Membership, "host", h.cfg.Host)
	for _, in := range h.static {
		h.startInput(ctx, shipCtx, in)
	}
	for _, d := range h.discoveries {
		h.scans.Go(func() { h.discoverLoop(ctx, shipCtx, d) })
	}
	<-ctx.Done()
	// Discovery loops are scans: once they are done no input starts.
	h.scans.Wait()
	h.readers.Wait()

	h.mu.Lock()
	inputs := slices.Collect(maps.Values(h.inputs))
	h.mu.Unlock()
	drain, cancel := context.WithTimeout(context.Background(), h.cfg.DrainTimeout)
	defer cancel()
	for _, in := range inputs {
		if err := in.batch.flush(drain); err != nil {
			h.log.Warn("unsent lines at shutdown; they are read again at the next start", "input", in.Name)
		}
	}
	for _, in := range inputs {
		for in.ship.InFlight() > 0 && drain.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopShipping()
	h.shippers.Wait()
	bg.Wait()
	h.pool.Close()
	err := h.save()
	h.log.Info("harvester stopped", "err", err)
	return err
}

func (h *Harvester) scanLoop(ctx context.Context, in *input) {
	t := time.NewTicker(in.ScanInterval)
	defer t.Stop()
	for {
		h.scan(ctx, in)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Harvester) markDirty() {
	select {
	case h.dirty <- struct{}{}:
	default:
	}
}

// saveLoop writes the registry after changes, at most every RegistryFlush.
func (h *Harvester) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.dirty:
		}
		if err := h.save(); err != nil {
			h.log.Error("registry write failed; offsets will be saved at the next attempt", "path", h.reg.Path, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.cfg.RegistryFlush):
		}
	}
}

func (h *Harvester) save() error {
	h.saveMu.Lock()
	defer h.saveMu.Unlock()
	h.mu.Lock()
	entries := make([]offsets.Entry, 0, len(h.files))
	for _, st := range h.files {
		st.mu.Lock()
		entries = append(entries, st.entry())
		st.mu.Unlock()
	}
	h.mu.Unlock()
	h.m.registryFiles.Set(float64(len(entries)))
	if err := h.reg.Save(entries); err != nil {
		h.m.registryWrites.WithLabelValues("error").Inc()
		return err
	}
	h.m.registryWrites.WithLabelValues("ok").Inc()
	return nil
}
