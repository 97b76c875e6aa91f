package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// listening lists the loopback and wildcard TCP ports this process listens on
// (from /proc), as "127.0.0.1:PORT" to dial.
func listening(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 4 || fs[3] != "0A" { // LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if port, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				out["127.0.0.1:"+strconv.FormatUint(port, 10)] = true
			}
		}
	}
	return out
}

// The embedded etcd opens no TCP port (its client API has no
// authentication): no port the all-in-one listens on answers an etcd client.
// --etcd-socket serves it on a unix socket in a directory only this user can
// open.
func TestEtcdHasNoPort(t *testing.T) {
	// Unix socket paths are limited to 108 bytes: a short data directory.
	dir, err := os.MkdirTemp("/tmp", "aio")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	before := listening(t)
	start(t, dir, "--etcd-socket")
	opened := 0
	for addr := range listening(t) {
		if before[addr] {
			continue
		}
		opened++
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 2 * time.Second})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cli.Get(ctx, "/", clientv3.WithPrefix())
		cancel()
		cli.Close()
		if err == nil {
			t.Errorf("%s answers an etcd client without credentials", addr)
		}
	}
	// The gRPC port, the gateway and the embedded Kafka buffer.
	if opened < 3 {
		t.Fatalf("%d new listening ports: the scan saw none of the all-in-one's", opened)
	}

	sockDir := filepath.Join(dir, "etcd-socket")
	if fi, err := os.Stat(sockDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v, want a 0700 directory", sockDir, fi, err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + filepath.Join(sockDir, "etcd.sock")}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/etcd-socket-test", "1"); err != nil {
		t.Fatalf("etcd through --etcd-socket: %v", err)
	}
}
