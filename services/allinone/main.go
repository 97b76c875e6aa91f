// Command allinone runs Hindsight in one process on embedded defaults, as
// `jaeger all-in-one` does: an embedded etcd, the services of the separate
// binaries (composed from the same packages) on one gRPC port, and the REST
// gateway on one HTTP port. Nothing else needs to be installed.
//
// Every service is the split binary's app package (services/<svc>/app) with
// the binary's flags, under the app's name (--replay.max-concurrent), and
// defaults (see apps.go); only the dependencies differ: embedded here, dialled
// there. The log pipeline is those apps wired in-process: the
// agent's harvester watches --watch (default <data-dir>/inbox, one folder per
// dataset) and ships to the router on this process's gRPC port; the router
// produces to an embedded Kafka-protocol buffer (franz-go's kfake on a
// loopback port, persisted under <data-dir>/kafka); the archiver writes the
// filesystem archive (<data-dir>/archive) and a live indexer an embedded
// index (<data-dir>/live) that live search reads. --demo writes logs of a few
// fake services (days of history, then live traffic) and reports their flows.
//
// Durability: the embedded etcd keeps its data in --data-dir and fsyncs like any
// etcd, so members and settings survive restarts; it is a single member, so a
// lost disk loses them. The router acknowledges a batch once kfake has
// written it to <data-dir>/kafka with an fsync per produce, and the
// harvester's registry advances only on those acks, so a crash loses no
// acknowledged line; but kfake is franz-go's test fake, not a hardened Kafka
// (one broker, one disk, no replication; it keeps each topic's 7-day
// retention), so use the split services for production.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	liveindex "github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/server"
	gatewayapp "github.com/hindsight-dev/hindsight/services/gateway/app"
	membershipapp "github.com/hindsight-dev/hindsight/services/membership/app"
	topologyapp "github.com/hindsight-dev/hindsight/services/topology/app"
)

const name = "allinone"

type config struct {
	server.Flags
	DataDir      string
	EtcdSocket   bool
	Watch        string
	WatchDataset string
	KafkaPort    int
	Demo         bool
	DemoDays     int
	Live         liveindex.Flags
	apps         apps
}

func (c *config) bind(fs *flag.FlagSet) {
	// Loopback by default: listening elsewhere turns authentication on
	// (settleAuth).
	c.Flags.Bind(fs, "127.0.0.1:9090", "127.0.0.1:9091")
	c.Flags.Prepare = c.settleAuth
	fs.StringVar(&c.DataDir, "data-dir", defaultDataDir(), "where the embedded etcd, the buffer, the archive, the live index and the replays keep their data")
	fs.BoolVar(&c.EtcdSocket, "etcd-socket", false, "also serve the embedded etcd's client API on the unix socket <data-dir>/etcd-socket/etcd.sock (directory 0700: only this user can connect), for etcdctl or a renderer on this host; without it the embedded etcd has no port at all (its client API has no authentication)")
	fs.StringVar(&c.Watch, "watch", "", "directory whose log files are harvested: each folder is a dataset (<dir>/nginx.access/**/*.log, up to 3 levels), files directly in it go to --watch-dataset (default <data-dir>/inbox)")
	fs.StringVar(&c.WatchDataset, "watch-dataset", "logs", "dataset of the *.log files directly in --watch")
	fs.IntVar(&c.KafkaPort, "kafka-port", 0, "loopback port of the embedded Kafka-protocol buffer (0: any free port). It is franz-go's kfake: it fsyncs every produce under <data-dir>/kafka before the router acknowledges, but it is a single-broker test server, not a hardened Kafka")
	fs.BoolVar(&c.Demo, "demo", false, "generate logs of fake services (nginx access logs, JSON app logs, syslog) over the past --demo-days and live, and report their traffic to the topology graph")
	fs.IntVar(&c.DemoDays, "demo-days", 3, "days of history --demo writes at its first start")
	c.Live.Bind(fs)
	c.apps.bind(fs)
}

// defaultDataDir keeps data beside the workspace under `bazel run`, and in the
// working directory otherwise (in the container image: /data).
func defaultDataDir() string {
	if ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY"); ws != "" {
		return filepath.Join(ws, ".hindsight-data")
	}
	return "hindsight-data"
}

func main() {
	var c config
	server.Main(server.Binary{Name: name, Flags: &c.Flags, Bind: c.bind, Setup: c.setup})
}

func (c *config) setup(ctx context.Context, s *server.Server) error {
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	if s.Auth.Enabled() && s.ClientToken == "" {
		// The apps' calls to each other (harvester → router, demo →
		// topology) carry a token known only to this process.
		s.ClientToken = s.Auth.Internal("allinone", auth.Admin)
	}
	// etcd's own client API is not authenticated: no TCP port for it, even on
	// loopback (any local user could rewrite members); the apps use it
	// in-process.
	ec := etcdembed.Config{Dir: filepath.Join(dataDir, "etcd"), Private: true, Logger: s.Log}
	if c.EtcdSocket {
		ec.Socket = filepath.Join(dataDir, "etcd-socket", "etcd.sock")
	}
	etcd, err := etcdembed.Start(ctx, ec)
	if err != nil {
		return fmt.Errorf("embedded etcd in %s: %w", c.DataDir, err)
	}
	s.OnClose(func() { _ = etcd.Close() })

	if err := membershipapp.Start(s, c.apps.membership, membershipapp.Deps{Etcd: etcd.Client(), Log: component(s, "membership")}); err != nil {
		return err
	}
	buf, err := c.startPipeline(ctx, s, etcd, dataDir)
	if err != nil {
		return err
	}
	if err := topologyapp.Start(s, c.apps.topology, topologyapp.Deps{Brokers: buf.brokers, ClientOpts: buf.opts, Log: component(s, "topology")}); err != nil {
		return err
	}

	// The gateway and the harvester reach every API on this process's own
	// gRPC port.
	self, err := loopback(s.GRPCAddr())
	if err != nil {
		return err
	}
	if err := c.startHarvester(s, dataDir, self); err != nil {
		return err
	}
	if c.Demo {
		inbox := c.Watch
		if inbox == "" {
			inbox = filepath.Join(dataDir, "inbox")
		}
		d := &demo{inbox: inbox, self: self, creds: s.Credentials(), days: c.DemoDays, log: component(s, "demo"),
			rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), now: time.Now}
		s.Go(d.run)
	}
	s.Log.Info("hindsight all-in-one", "rest", c.apps.gateway.HTTPAddr, "grpc", s.GRPCAddr(),
		"etcd", etcd.Endpoints(), "data_dir", c.DataDir)
	return gatewayapp.Start(ctx, s, c.apps.gateway, gatewayapp.Deps{
		Membership: self, Routing: self, Replay: self, Topology: self,
		DrainTimeout: c.ShutdownTimeout, Log: component(s, "gateway"),
	})
}

// component is the server's logger for one of the apps.
func component(s *server.Server, name string) *slog.Logger { return s.Log.With("component", name) }

// loopback turns a listener address such as "[::]:9090" into one to dial.
func loopback(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}
