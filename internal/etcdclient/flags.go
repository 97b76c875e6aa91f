package etcdclient

import (
	"context"
	"flag"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/internal/server"
)

// Flags are the etcd connection settings, bound once for every service
// that keeps state in etcd.
type Flags struct {
	Endpoints   string
	DialTimeout time.Duration
}

// Bind registers --etcd-endpoints and --etcd-dial-timeout on fs.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Endpoints, "etcd-endpoints", "localhost:2379", "comma-separated etcd endpoints")
	fs.DurationVar(&f.DialTimeout, "etcd-dial-timeout", 5*time.Second, "how long connecting to etcd and the start-up check may take (the service starts anyway)")
}

// Dial returns a client for the flags' endpoints without waiting for etcd,
// and says in the log, once, whether etcd answers within the dial timeout.
func (f Flags) Dial(ctx context.Context, log *slog.Logger) (*clientv3.Client, error) {
	cli, err := Dial(f.Endpoints, f.DialTimeout, log)
	if err != nil {
		return nil, err
	}
	go func() {
		cctx, cancel := context.WithTimeout(ctx, f.DialTimeout)
		defer cancel()
		if _, err := cli.Get(cctx, "/", clientv3.WithCountOnly()); err != nil {
			if ctx.Err() == nil {
				log.Warn("etcd not reachable yet; calls answer Unavailable until it is", "endpoints", cli.Endpoints(), "err", err)
			}
			return
		}
		log.Info("etcd reachable", "endpoints", cli.Endpoints())
	}()
	return cli, nil
}

// Connect is Dial for a service: the client logs to s's logger and is
// closed when s stops.
func (f Flags) Connect(ctx context.Context, s *server.Server) (*clientv3.Client, error) {
	cli, err := f.Dial(ctx, s.Log)
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { cli.Close() })
	return cli, nil
}

// Service is the flags of a binary whose app keeps its state in etcd: the
// common ones and the etcd ones.
type Service struct {
	server.Flags
	Etcd Flags
}

// Binary is server.Flags.Binary binding the etcd flags too; start gets a
// client connected with them, closed when the server stops.
func (sv *Service) Binary(name, grpcAddr, adminAddr string, bind func(*flag.FlagSet), start func(context.Context, *server.Server, *clientv3.Client) error) server.Binary {
	withEtcd := func(fs *flag.FlagSet) {
		sv.Etcd.Bind(fs)
		bind(fs)
	}
	return sv.Flags.Binary(name, grpcAddr, adminAddr, withEtcd, func(ctx context.Context, s *server.Server) error {
		cli, err := sv.Etcd.Connect(ctx, s)
		if err != nil {
			return err
		}
		return start(ctx, s, cli)
	})
}
