package app

import (
	"context"
	"flag"
	"time"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/server"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	"github.com/hindsight-dev/hindsight/services/agent/capture"
)

// captureTraffic watches the containers' traffic on the Docker bridges and
// reports flows to the topology service. It needs CAP_NET_RAW (and
// CAP_NET_ADMIN for a large socket buffer), the host's network namespace
// (docker run --network host) and the Docker socket.
type captureTraffic struct {
	enabled    bool
	topology   string
	interfaces string
	networks   string
	flush      time.Duration
	limits     capture.Limits
}

func (c *captureTraffic) bind(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "capture", false, "capture the containers' HTTP, Redis and PostgreSQL traffic and report flows to the topology service")
	fs.StringVar(&c.topology, "topology-endpoint", "localhost:9501", "gRPC address of the topology service")
	fs.StringVar(&c.interfaces, "capture-interfaces", "", "comma-separated interfaces to capture on (empty: the bridges of the Docker networks)")
	fs.StringVar(&c.networks, "capture-networks", "", "comma-separated Docker networks whose bridges are captured (empty: every bridge network)")
	fs.DurationVar(&c.flush, "capture-flush", capture.DefaultFlushInterval, "how often flows are sent to the topology service")
	fs.IntVar(&c.limits.MaxConnections, "capture-max-connections", capture.DefaultMaxConnections, "TCP connections followed at most per interface")
	fs.Int64Var(&c.limits.MaxBuffered, "capture-max-buffered", capture.DefaultMaxBuffered, "bytes held out of order at most per interface")
}

func (c *captureTraffic) setup(_ context.Context, s *server.Server, _ string) error {
	if !c.enabled {
		return nil
	}
	docker, conn, err := dockerAndService(s, c.topology, "--topology-endpoint")
	if err != nil {
		return err
	}
	m, err := capture.NewMetrics(s.Registry)
	if err != nil {
		return err
	}
	dir := capture.NewDirectory(docker, 0, s.Log)
	rep := capture.NewReporter(topologyv1.NewTopologyServiceClient(conn), dir, c.flush, s.Log, m)
	capt, err := capture.New(capture.Options{
		Interfaces: flagenv.List(c.interfaces),
		Networks:   flagenv.List(c.networks),
		Directory:  dir,
		Reporter:   rep,
		Limits:     c.limits,
		Log:        s.Log,
		Metrics:    m,
	})
	if err != nil {
		return err
	}
	s.Go(dir.Run)
	s.Go(rep.Run)
	s.Go(capt.Run)
	s.Log.Info("capture on", "topology", c.topology, "interfaces", c.interfaces, "networks", c.networks)
	return nil
}
