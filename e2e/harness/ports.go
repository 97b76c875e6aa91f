package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Engines that are stopped and started again during a test (Kafka, OpenSearch) are
// published on a fixed loopback port chosen by the test, not on one Docker picks:
// Docker picks a new port at every start, which would change the address the test
// (and, for Kafka, the broker's advertised listener) uses. The port is chosen below
// the kernel's ephemeral range, so no outgoing connection or Docker-assigned mapping
// can take it while the container is stopped; a port another process took between
// the choice and the start is retried with another one.

// hostPortLow is the lowest port fixedPort picks from.
const hostPortLow = 20000

// fixedPort returns a loopback TCP port nothing listens on now, below the ephemeral
// port range.
func fixedPort() (int, error) {
	high := ephemeralLow() - 1
	if high <= hostPortLow {
		high = hostPortLow + 5000
	}
	for range 50 {
		port := hostPortLow + rand.IntN(high-hostPortLow)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port found")
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

// publishFixed makes req publish containerPort (e.g. "9200/tcp") on 127.0.0.1:hostPort.
func publishFixed(req *testcontainers.ContainerRequest, containerPort string, hostPort int) {
	p := network.MustParsePort(containerPort)
	prev := req.HostConfigModifier
	req.HostConfigModifier = func(hc *container.HostConfig) {
		if prev != nil {
			prev(hc)
		}
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		hc.PortBindings[p] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(hostPort)}}
	}
}

// startOnFixedPort starts a container whose containerPort is published on a fixed
// loopback port: build makes the request for a given host port. It returns the
// container and the port.
func startOnFixedPort(t testing.TB, nw *testcontainers.DockerNetwork, aliases []string, containerPort string,
	build func(hostPort int) testcontainers.ContainerRequest) (testcontainers.Container, int) {
	t.Helper()
	var lastErr error
	for range 3 {
		port, err := fixedPort()
		if err != nil {
			t.Fatal(err)
		}
		req := build(port)
		publishFixed(&req, containerPort, port)
		c, err := start(t, nw, aliases, req)
		if err == nil {
			return c, port
		}
		if !isPortTaken(err) {
			t.Fatalf("start %s: %v", req.Image, err)
		}
		lastErr = err
		t.Logf("start %s: loopback port %d was taken, trying another one: %v", req.Image, port, err)
	}
	t.Fatalf("start on a fixed port: %v", lastErr)
	return nil, 0
}

func isPortTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// logCount waits until marker appears in the container's logs at least want() times:
// a container that is stopped and started again keeps its earlier logs, so each start
// waits for one more occurrence of its "ready" line.
type logCount struct {
	marker string
	want   func() int
}

func (s logCount) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	n := s.want()
	if err := wait.ForLog(s.marker).WithOccurrence(n).WithStartupTimeout(startupTimeout).WaitUntilReady(ctx, target); err != nil {
		return fmt.Errorf("waiting for %q (start %d): %w", s.marker, n, err)
	}
	return nil
}

func (s logCount) String() string {
	return fmt.Sprintf("log line %q (occurrence %d)", s.marker, s.want())
}
