package harness

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Images built by e2e/images/build.sh.
const (
	BaseImage    = "hindsight-e2e/debian-base:bookworm"
	EtcdImage    = "hindsight-e2e/etcd:3"
	HAProxyImage = "hindsight-e2e/haproxy:2"
)

// EtcdAlias is etcd's name on a test network.
const EtcdAlias = "etcd"

// Etcd is a single-member etcd started for one test.
type Etcd struct {
	Container testcontainers.Container
	// Endpoint is the client URL for the test process (a port mapped on loopback).
	Endpoint string
	// NetworkEndpoint is the client URL for containers on the test's network
	// (http://etcd:2379), empty when etcd was started without a network.
	NetworkEndpoint string
}

// StartEtcd starts etcd (hindsight-e2e/etcd:3) for this test and waits until it is
// healthy. With nw non-nil it joins that network as "etcd" and advertises
// http://etcd:2379. It is terminated when the test ends.
func StartEtcd(t testing.TB, nw *testcontainers.DockerNetwork) *Etcd {
	t.Helper()
	req := testcontainers.ContainerRequest{
		Image:        EtcdImage,
		ExposedPorts: []string{"2379/tcp"},
		WaitingFor: wait.ForHTTP("/health").WithPort("2379/tcp").
			WithResponseMatcher(func(body io.Reader) bool {
				b, _ := io.ReadAll(body)
				return strings.Contains(string(b), `"health":"true"`)
			}).
			WithStartupTimeout(60 * time.Second),
	}
	e := &Etcd{}
	if nw != nil {
		e.NetworkEndpoint = "http://" + EtcdAlias + ":2379"
		req.Env = map[string]string{"ETCD_ADVERTISE_CLIENT_URLS": e.NetworkEndpoint}
	}
	e.Container = Start(t, nw, []string{EtcdAlias}, req)
	ep, err := e.Container.PortEndpoint(context.Background(), "2379/tcp", "http")
	if err != nil {
		t.Fatalf("etcd endpoint: %v", err)
	}
	e.Endpoint = ep
	return e
}
