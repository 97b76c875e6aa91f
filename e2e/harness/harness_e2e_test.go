package harness_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// etcd answers the test process on its mapped port, and other containers on the
// test network by its alias.
func TestStartEtcd(t *testing.T) {
	nw := harness.Network(t)
	etcd := harness.StartEtcd(t, nw)

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/hindsight/e2e/harness", "works"); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := cli.Get(ctx, "/hindsight/e2e/harness")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "works" {
		t.Fatalf("get = %v, want one key with value %q", got.Kvs, "works")
	}

	// A neighbour on the network asks etcd's health by alias (bash's /dev/tcp: the base
	// image has no HTTP client).
	probe := harness.Start(t, nw, nil, testcontainers.ContainerRequest{
		Image: harness.BaseImage,
		Cmd: []string{"bash", "-c", `exec 3<>/dev/tcp/` + harness.EtcdAlias + `/2379 && ` +
			`printf 'GET /health HTTP/1.0\r\nHost: etcd\r\n\r\n' >&3 && cat <&3`},
		WaitingFor: wait.ForExit().WithExitTimeout(30 * time.Second),
	})
	if out := harness.Logs(t, probe); !strings.Contains(out, `"health":"true"`) {
		t.Fatalf("etcd seen from the network at %s: %q", etcd.NetworkEndpoint, out)
	}
}

// A Bazel-built image loads and runs as the non-root hindsight user.
func TestLoadImage(t *testing.T) {
	tag := harness.LoadImage(t, "e2e/harness/testdata/hello/hello_service_image.tar")
	if tag != "hindsight-e2e-test/hello:latest" {
		t.Fatalf("tag = %q", tag)
	}
	if again := harness.LoadImage(t, "e2e/harness/testdata/hello/hello_service_image.tar"); again != tag {
		t.Fatalf("second load: tag = %q", again)
	}
	c := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image:      tag,
		Cmd:        []string{"a", "b"},
		WaitingFor: wait.ForExit().WithExitTimeout(30 * time.Second),
	})
	want := "hello uid=65532 home=/tmp args=a b"
	if out := harness.Logs(t, c); !strings.Contains(out, want) {
		t.Fatalf("output %q, want %q", out, want)
	}
}
