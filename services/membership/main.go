// Command membership is the membership service: a registry of service
// instances in etcd, served over gRPC (hindsight.membership.v1).
//
// Every flag can also be set from the environment, e.g. --etcd-endpoints from
// HINDSIGHT_ETCD_ENDPOINTS.
package main

import (
	"context"
	"flag"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/server"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/membership/api"
	"github.com/hindsight-dev/hindsight/services/membership/health"
)

const name = "membership"

// config is everything the membership binary is told by flags.
type config struct {
	server.Flags
	EtcdEndpoints   string
	EtcdPrefix      string
	EtcdDialTimeout time.Duration
	MinTTL, MaxTTL  time.Duration
	OpTimeout       time.Duration
	Probe           bool
	ElectionPrefix  string
}

func (c *config) bind(fs *flag.FlagSet) {
	c.Flags.Bind(fs, ":9301", ":9302")
	fs.StringVar(&c.EtcdEndpoints, "etcd-endpoints", "localhost:2379", "comma-separated etcd endpoints")
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", api.DefaultPrefix, "etcd key prefix members are stored under")
	fs.DurationVar(&c.EtcdDialTimeout, "etcd-dial-timeout", 5*time.Second, "how long the startup check waits for etcd (the service starts anyway)")
	fs.DurationVar(&c.MinTTL, "min-ttl", api.DefaultMinTTL, "smallest lease TTL a member may register with (at least 1s)")
	fs.DurationVar(&c.MaxTTL, "max-ttl", api.DefaultMaxTTL, "largest lease TTL a member may register with")
	fs.DurationVar(&c.OpTimeout, "op-timeout", api.DefaultOpTimeout, "bound on each call's etcd work; past it the call fails with Unavailable")
	fs.BoolVar(&c.Probe, "probe", true, "run members' health checks (replicas elect one prober; the others stand by)")
	fs.StringVar(&c.ElectionPrefix, "prober-election-prefix", health.DefaultElectionPrefix, "etcd prefix where replicas elect the acting prober (outside --etcd-prefix)")
}

func main() {
	var c config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c.bind(fs)
	server.Main(name, fs, &c.Flags, c.setup)
}

// setup connects to etcd and registers the membership service on s. It does
// not wait for etcd: while etcd is down, calls answer Unavailable.
func (c *config) setup(ctx context.Context, s *server.Server) error {
	cli, err := etcdclient.Dial(c.EtcdEndpoints, c.EtcdDialTimeout, s.Log)
	if err != nil {
		return err
	}
	s.OnClose(func() { cli.Close() })

	svc, err := api.New(cli, api.Options{
		Prefix:     c.EtcdPrefix,
		MinTTL:     c.MinTTL,
		MaxTTL:     c.MaxTTL,
		OpTimeout:  c.OpTimeout,
		Log:        s.Log,
		Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	s.OnClose(svc.Close)
	membershipv1.RegisterMembershipServiceServer(s.GRPC, svc)
	if c.Probe {
		prober, err := health.New(cli, health.Options{
			Prefix:         svc.Prefix(),
			ElectionPrefix: c.ElectionPrefix,
			OpTimeout:      c.OpTimeout,
			Log:            s.Log,
			Registerer:     s.Registry,
		})
		if err != nil {
			return err
		}
		s.Go(prober.Run)
	}
	s.Health.SetServingStatus(membershipv1.MembershipService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	// Say at startup whether etcd answers, without waiting for it.
	go func() {
		cctx, cancel := context.WithTimeout(ctx, c.EtcdDialTimeout)
		defer cancel()
		if _, err := cli.Get(cctx, svc.Prefix(), clientv3.WithCountOnly()); err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("etcd not reachable yet; calls answer Unavailable until it is", "endpoints", cli.Endpoints(), "err", err)
			}
			return
		}
		s.Log.Info("etcd reachable", "endpoints", cli.Endpoints(), "prefix", svc.Prefix())
	}()
	return nil
}
