// Package app is the membership service as one unit: its flags, with the
// defaults the service owns, and Start, which serves the registry of members
// and runs the elected health prober on a server. The membership binary dials
// etcd and calls Start; the all-in-one calls the same Start against its
// embedded etcd.
package app

import (
	"flag"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/membership/api"
	"github.com/hindsight-dev/hindsight/services/membership/health"
)

// Flags are the membership service's settings.
type Flags struct {
	EtcdPrefix     string
	MinTTL, MaxTTL time.Duration
	OpTimeout      time.Duration
	Probe          bool
	ElectionPrefix string
}

// Bind registers the flags on fs with the service's defaults.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.EtcdPrefix, "etcd-prefix", api.DefaultPrefix, "etcd key prefix members are stored under")
	fs.DurationVar(&f.MinTTL, "min-ttl", api.DefaultMinTTL, "smallest lease TTL a member may register with (at least 1s)")
	fs.DurationVar(&f.MaxTTL, "max-ttl", api.DefaultMaxTTL, "largest lease TTL a member may register with")
	fs.DurationVar(&f.OpTimeout, "op-timeout", api.DefaultOpTimeout, "bound on each call's etcd work; past it the call fails with Unavailable")
	fs.BoolVar(&f.Probe, "probe", true, "run members' health checks (replicas elect one prober; the others stand by)")
	fs.StringVar(&f.ElectionPrefix, "prober-election-prefix", health.DefaultElectionPrefix, "etcd prefix where replicas elect the acting prober (outside --etcd-prefix)")
}

// Deps are what the service runs against.
type Deps struct {
	Etcd *clientv3.Client
	// Log defaults to the server's.
	Log *slog.Logger
}

// Start registers the MembershipService on s and the prober as one of s's
// jobs. It does not wait for etcd: while etcd is down, calls answer
// Unavailable.
func Start(s *server.Server, f Flags, d Deps) error {
	log := s.LogOr(d.Log)
	svc, err := api.New(d.Etcd, api.Options{
		Prefix:     f.EtcdPrefix,
		MinTTL:     f.MinTTL,
		MaxTTL:     f.MaxTTL,
		OpTimeout:  f.OpTimeout,
		Log:        log,
		Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	s.OnClose(svc.Close)
	membershipv1.RegisterMembershipServiceServer(s.GRPC, svc)
	if f.Probe {
		prober, err := health.New(d.Etcd, health.Options{
			Prefix:         svc.Prefix(),
			ElectionPrefix: f.ElectionPrefix,
			OpTimeout:      f.OpTimeout,
			Log:            log,
			Registerer:     s.Registry,
		})
		if err != nil {
			return err
		}
		s.Go(prober.Run)
	}
	s.Health.SetServingStatus(membershipv1.MembershipService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return nil
}
