// Package harness is what Hindsight's end-to-end suites share: the testcontainers
// settings this kind of machine needs, a check that a Docker engine answers, per-test
// networks, and the real engines (etcd, ...) started from locally built images.
//
// Nothing is ever pulled from a registry. Third-party images are built by
// e2e/images/build.sh; Hindsight's own images by Bazel (//images:<name>_image), loaded
// into the engine with LoadImage.
//
// Every suite calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// and tags its go_test target e2e, exclusive, requires-docker, no-sandbox.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

// SetupHint is the command that starts a Docker engine on a development machine.
const SetupHint = "sudo tools/setup/docker.sh"

// testcontainersEnv holds the settings this kind of machine needs. testcontainers-go
// believes it runs in a container (the machine has /.dockerenv) and would reach mapped
// ports through the default gateway, which is not allowed here; and its reaper image
// cannot be pulled, so containers are terminated in t.Cleanup instead.
var testcontainersEnv = map[string]string{
	"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	"TESTCONTAINERS_RYUK_DISABLED": "true",
}

// Main prepares the environment, checks that a Docker engine answers, runs the tests
// and exits. Call it from TestMain.
func Main(m *testing.M) {
	if err := Setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e harness:", err)
		os.Exit(1)
	}
	code := m.Run()
	closeClient()
	os.Exit(code)
}

// Setup is Main without running the tests: it sets the testcontainers variables that
// are not set yet and checks that a Docker engine answers.
func Setup() error {
	for k, v := range testcontainersEnv {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	// testcontainers reads ~/.testcontainers.properties; under Bazel HOME may be unset.
	if os.Getenv("HOME") == "" {
		if tmp := os.Getenv("TEST_TMPDIR"); tmp != "" {
			os.Setenv("HOME", tmp)
		}
	}
	_, err := Docker()
	return err
}

var (
	dockerOnce sync.Once
	dockerCli  *client.Client
	dockerErr  error
)

// Docker returns a client of the engine the tests use (DOCKER_HOST, or the default
// socket), or an error saying how to start one if it does not answer.
func Docker() (*client.Client, error) {
	dockerOnce.Do(func() {
		host := os.Getenv("DOCKER_HOST")
		if host == "" {
			host = "unix:///var/run/docker.sock"
		}
		cli, err := client.New(client.FromEnv)
		if err != nil {
			dockerErr = fmt.Errorf("docker client for %s: %w", host, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			cli.Close()
			dockerErr = fmt.Errorf("no Docker engine answers at %s (%v): start one with `%s`", host, err, SetupHint)
			return
		}
		dockerCli = cli
	})
	return dockerCli, dockerErr
}

func closeClient() {
	if dockerCli != nil {
		dockerCli.Close()
	}
}

// docker is Docker for tests: it fails the test when no engine answers.
func docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := Docker()
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// RequireImage fails the test unless the engine has the image tag. Third-party test
// images (hindsight-e2e/...) are built by e2e/images/build.sh; nothing is pulled.
func RequireImage(t testing.TB, tag string) {
	t.Helper()
	_, err := docker(t).ImageInspect(context.Background(), tag)
	if err == nil {
		return
	}
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect image %s: %v", tag, err)
	}
	if name, ok := strings.CutPrefix(tag, "hindsight-e2e/"); ok {
		name, _, _ = strings.Cut(name, ":")
		if name == "debian-base" {
			name = ""
		}
		t.Fatalf("image %s not found: build it with `sudo e2e/images/build.sh %s` (nothing is pulled from a registry)", tag, name)
	}
	t.Fatalf("image %s not found (nothing is pulled from a registry): load or build it first", tag)
}

// Network creates a Docker network for this test, removed when the test ends.
// Containers attached to it reach each other by their aliases.
func Network(t testing.TB) *testcontainers.DockerNetwork {
	t.Helper()
	docker(t)
	nw, err := network.New(context.Background(), network.WithLabels(map[string]string{"org.hindsight.e2e.test": t.Name()}))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	return nw
}

// Start starts a container from a local image (never pulled), terminated when the
// test ends; its logs are printed if the test failed. With nw non-nil the container
// joins that network under the given aliases.
func Start(t testing.TB, nw *testcontainers.DockerNetwork, aliases []string, req testcontainers.ContainerRequest) testcontainers.Container {
	t.Helper()
	c, err := start(t, nw, aliases, req)
	if err != nil {
		t.Fatalf("start %s: %v", req.Image, err)
	}
	return c
}

// startupTimeout bounds how long an engine may take to become ready. Generous: the
// machines that run these suites are small and shared.
const startupTimeout = 3 * time.Minute

// start is Start returning the error instead of failing the test. The container, if
// created, is terminated when the test ends either way.
func start(t testing.TB, nw *testcontainers.DockerNetwork, aliases []string, req testcontainers.ContainerRequest) (testcontainers.Container, error) {
	t.Helper()
	RequireImage(t, req.Image)
	withAuth(t, &req)
	if nw != nil {
		req.Networks = append(req.Networks, nw.Name)
		if req.NetworkAliases == nil {
			req.NetworkAliases = map[string][]string{}
		}
		req.NetworkAliases[nw.Name] = append(req.NetworkAliases[nw.Name], aliases...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout+time.Minute)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req,
		Started:          true,
	})
	// Registered first, run last: the logs are read before the container goes away.
	testcontainers.CleanupContainer(t, c)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				dumpLogs(t, req.Image, c)
			}
		})
	}
	return c, err
}

func dumpLogs(t testing.TB, image string, c testcontainers.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		t.Logf("logs of %s: %v", image, err)
		return
	}
	defer r.Close()
	// The end matters most (why it failed); engines log a lot while starting.
	b, _ := io.ReadAll(r)
	if len(b) > 64<<10 {
		b = append([]byte("[...]\n"), b[len(b)-64<<10:]...)
	}
	t.Logf("logs of %s (%s):\n%s", image, c.GetContainerID()[:12], b)
}

// Logs returns what a container has written so far (stdout and stderr).
func Logs(t testing.TB, c testcontainers.Container) string {
	t.Helper()
	r, err := c.Logs(context.Background())
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("logs: %v", err)
	}
	return string(b)
}
