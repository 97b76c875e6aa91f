// Package container gives each replay its own OpenSearch, in its own
// container started through the Docker engine API, as the seed's Time
// Machine started a private ELK stack per user: the strongest isolation (a
// replay cannot slow another down or fill its disk), at the price of a JVM
// per replay and a start-up of some seconds. Inside it, the replay is an
// index like in a shared cluster (package opensearch).
//
// The container is named hindsight-replay-<name> and labelled with the
// replay, so a restarted replay service finds it again; dropping the replay
// removes it with its volumes. The image is local (nothing is pulled).
package container

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/opensearch"
)

// Label marks the containers of replays, with the replay's name.
const Label = "org.hindsight.replay"

var httpPort = network.MustParsePort("9200/tcp")

// Config says which image to run and how the service reaches it.
type Config struct {
	// Image is an OpenSearch image present on the engine.
	Image string
	// Network, when set, is the Docker network the containers join; the
	// service (itself a container on it) reaches them by name. Otherwise
	// their port 9200 is published on a free loopback port of the host.
	Network string
	// StartTimeout bounds the wait for a new node to be ready (default 3m).
	StartTimeout time.Duration
	// MemoryBytes and CPUs limit each container (0: no limit): a ready
	// replay keeps its JVM until it expires.
	MemoryBytes int64
	CPUs        float64
	Log         *slog.Logger
}

// Backend runs one OpenSearch container per replay.
type Backend struct {
	cfg Config
	cli *client.Client
}

// New connects to the Docker engine of the environment (DOCKER_HOST, or the
// default socket); it does not check that the engine answers.
func New(cfg Config) (*Backend, error) {
	if cfg.Image == "" {
		return nil, fmt.Errorf("replay containers: no image")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 3 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Backend{cfg: cfg, cli: cli}, nil
}

// Name is the container of a replay.
func Name(replay string) string { return "hindsight-replay-" + replay }

// Open starts (or finds) the replay's container, waits until its node is
// ready, and opens the replay's index in it. The address is the node's URL.
func (b *Backend) Open(ctx context.Context, replay string) (index.Index, string, error) {
	url, err := b.ensure(ctx, replay)
	if err != nil {
		return nil, "", err
	}
	os, err := opensearch.New(url)
	if err != nil {
		return nil, "", err
	}
	ix, _, err := os.Open(ctx, replay)
	if err != nil {
		return nil, "", err
	}
	return ix, url, nil
}

// Drop removes the replay's container and its volumes.
func (b *Backend) Drop(ctx context.Context, replay string) error {
	_, err := b.cli.ContainerRemove(ctx, Name(replay), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", Name(replay), err)
	}
	return nil
}

// Close releases the engine client.
func (b *Backend) Close() error { return b.cli.Close() }

func (b *Backend) ensure(ctx context.Context, replay string) (string, error) {
	name := Name(replay)
	res, err := b.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		if err := b.create(ctx, replay); err != nil {
			return "", err
		}
		res, err = b.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", name, err)
	}
	if st := res.Container.State; st == nil || !st.Running {
		if _, err := b.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
			return "", fmt.Errorf("start container %s: %w", name, err)
		}
		// The published port is chosen at start.
		if res, err = b.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err != nil {
			return "", fmt.Errorf("inspect container %s: %w", name, err)
		}
	}
	url := "http://" + name + ":9200"
	if b.cfg.Network == "" {
		ns := res.Container.NetworkSettings
		if ns == nil || len(ns.Ports[httpPort]) == 0 {
			return "", fmt.Errorf("container %s publishes no port for 9200", name)
		}
		url = "http://127.0.0.1:" + ns.Ports[httpPort][0].HostPort
	}
	began := time.Now()
	if err := b.waitReady(ctx, url); err != nil {
		return "", fmt.Errorf("OpenSearch in container %s: %w", name, err)
	}
	b.cfg.Log.Info("replay container ready", "replay", replay, "container", name, "url", url, "waited", time.Since(began).Round(time.Millisecond))
	return url, nil
}

func (b *Backend) create(ctx context.Context, replay string) error {
	hc := &container.HostConfig{Resources: resources(b.cfg)}
	if b.cfg.Network != "" {
		hc.NetworkMode = container.NetworkMode(b.cfg.Network)
	} else {
		hc.PortBindings = network.PortMap{httpPort: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
	}
	_, err := b.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: Name(replay),
		Config: &container.Config{
			Image:        b.cfg.Image,
			ExposedPorts: network.PortSet{httpPort: {}},
			Labels:       map[string]string{Label: replay},
		},
		HostConfig: hc,
	})
	if err != nil && !cerrdefs.IsConflict(err) { // created meanwhile: fine
		return fmt.Errorf("create container %s from %s: %w", Name(replay), b.cfg.Image, err)
	}
	b.cfg.Log.Info("replay container created", "replay", replay, "container", Name(replay), "image", b.cfg.Image)
	return nil
}

// resources are a container's limits: memory without extra swap, and CPU
// time in billionths of a core.
func resources(cfg Config) container.Resources {
	r := container.Resources{NanoCPUs: int64(cfg.CPUs * 1e9)}
	if cfg.MemoryBytes > 0 {
		r.Memory, r.MemorySwap = cfg.MemoryBytes, cfg.MemoryBytes
	}
	return r
}

// waitReady polls the node until its cluster is at least yellow.
func (b *Backend) waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_cluster/health?wait_for_status=yellow&timeout=1s", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s (last: %v)", b.cfg.StartTimeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
