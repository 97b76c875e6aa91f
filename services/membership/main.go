// Command membership is the membership service: a registry of service
// instances in etcd, served over gRPC (hindsight.membership.v1). See
// services/membership/app.
//
// Every flag can also be set from the environment, e.g. --etcd-endpoints from
// HINDSIGHT_ETCD_ENDPOINTS.
package main

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/membership/app"
)

const name = "membership"

func main() { server.Main(binary()) }

func binary() server.Binary {
	var c etcdclient.Service
	var f app.Flags
	return c.Binary(name, ":9301", ":9302", f.Bind, func(_ context.Context, s *server.Server, cli *clientv3.Client) error {
		return app.Start(s, f, app.Deps{Etcd: cli})
	})
}
