// Package app is the renderer as one unit: its flags, with the defaults the
// render service owns, New (a renderer following etcd, for --onetime runs
// without a server) and Start, which renders as one of a server's jobs and
// reports each resource's health.
package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/render/renderer"
)

// Flags are the renderer's settings.
type Flags struct {
	Config  string
	Onetime bool
	Noop    bool
}

// Bind registers the flags on fs with the renderer's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Config, "config", "/etc/hindsight/render.yaml", "config file (YAML) listing the template resources")
	fs.BoolVar(&f.Onetime, "onetime", false, "render every resource once and exit; exit status 1 if any failed")
	fs.BoolVar(&f.Noop, "noop", false, "render and run check commands, but never replace a file or run a reload command")
}

// New loads the config file and builds a renderer reading etcd; reg (may be
// nil) gets its metrics, onStatus (may be nil) each resource's outcome.
func New(f Flags, etcd *clientv3.Client, log *slog.Logger, reg prometheus.Registerer, onStatus func(renderer.Status)) (*renderer.Renderer, error) {
	cfg, err := renderer.Load(f.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return renderer.New(etcd, cfg, renderer.Options{Noop: f.Noop, Log: log, Registerer: reg, OnStatus: onStatus})
}

// Start renders as one of s's jobs. Each resource's health is served as
// "hindsight.render.<name>" (NOT_SERVING while its last render failed) and
// every status as JSON at /status on the admin listener.
func Start(s *server.Server, f Flags, etcd *clientv3.Client) error {
	r, err := New(f, etcd, s.Log, s.Registry, func(st renderer.Status) {
		h := healthpb.HealthCheckResponse_SERVING
		if !st.OK {
			h = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.Health.SetServingStatus("hindsight.render."+st.Name, h)
	})
	if err != nil {
		return err
	}
	s.Admin.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.Statuses())
	})
	s.Go(r.Run)
	s.Log.Info("rendering", "config", f.Config, "noop", f.Noop)
	return nil
}
