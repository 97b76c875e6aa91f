// Package etcdclient connects a service to etcd the same way everywhere: from
// the comma-separated --etcd-endpoints flag, with keep-alives so a dead
// endpoint is noticed, without waiting for etcd at start-up (calls fail with
// their own deadlines while it is down), and with the client's retry chatter
// kept out of the service's log.
package etcdclient

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/zapslog"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
)

// Dial returns a client for the endpoints in list (the --etcd-endpoints flag).
func Dial(list string, dialTimeout time.Duration, log *slog.Logger) (*clientv3.Client, error) {
	endpoints := flagenv.List(list)
	if len(endpoints) == 0 {
		return nil, errors.New("--etcd-endpoints: at least one endpoint required")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		// The client logs every retry as a warning; keep only its errors.
		Logger: zapslog.New(log, "etcd-client", slog.LevelError),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return cli, nil
}
