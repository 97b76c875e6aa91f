package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hindsight-dev/hindsight/internal/server"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/agent/dockerwatch"
)

// dockerWatch registers labelled containers with the membership service.
// The engine is found like the docker CLI finds it (DOCKER_HOST, default
// unix:///var/run/docker.sock); in a container, mount the socket.
type dockerWatch struct {
	enabled    bool
	membership string
	network    string
	ttl        time.Duration
	resync     time.Duration
}

func (d *dockerWatch) bind(fs *flag.FlagSet) {
	fs.BoolVar(&d.enabled, "docker-watch", true, "register containers labelled hindsight.service and hindsight.port with the membership service")
	fs.StringVar(&d.membership, "membership-endpoint", "localhost:9301", "gRPC address of the membership service")
	fs.StringVar(&d.network, "docker-network", "", "Docker network whose container address is registered when a container has no hindsight.network label (empty: the container's only network)")
	fs.DurationVar(&d.ttl, "docker-ttl", 10*time.Second, "member lease TTL when a container has no hindsight.ttl label")
	fs.DurationVar(&d.resync, "docker-resync", time.Minute, "how often to reconcile with the running containers besides following events (0: only at start and reconnect)")
}

func (d *dockerWatch) setup(_ context.Context, s *server.Server, node string) error {
	if !d.enabled {
		return nil
	}
	docker, conn, err := dockerAndService(s, d.membership, "--membership-endpoint")
	if err != nil {
		return err
	}
	w, err := dockerwatch.New(docker, membershipv1.NewMembershipServiceClient(conn), dockerwatch.Options{
		Node:       node,
		Network:    d.network,
		DefaultTTL: d.ttl,
		Resync:     d.resync,
		Log:        s.Log,
		Registerer: s.Registry,
	})
	if err != nil {
		return err
	}
	s.Go(w.Run)
	s.Log.Info("docker watcher on", "docker_host", docker.DaemonHost(), "membership", d.membership, "node", node, "network", d.network)
	return nil
}

// dockerAndService connects what the Docker components need, both closed
// with s: the engine (found as the docker CLI finds it) and the gRPC
// service at endpoint (named by its flag in errors), with s's credentials.
func dockerAndService(s *server.Server, endpoint, flagName string) (*client.Client, *grpc.ClientConn, error) {
	docker, err := client.New(client.FromEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("docker client: %w", err)
	}
	s.OnClose(func() { docker.Close() })
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()), s.Credentials())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flagName, err)
	}
	s.OnClose(func() { conn.Close() })
	return docker, conn, nil
}
