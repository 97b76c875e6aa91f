package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
)

// topics lists the buffer's topics as a client with opts.
func topics(t *testing.T, addr string, opts ...kgo.Opt) (kadm.TopicDetails, error) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return kadm.NewClient(cl).ListTopics(ctx)
}

// The embedded buffer's loopback port answers only clients with its secret
// (kept 0600 in the data directory), and the same secret works after a
// restart (the buffer persists its credentials with its data).
func TestBufferNeedsItsSecret(t *testing.T) {
	dir := t.TempDir()
	addr := servertest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	in := start(t, dir, "--kafka-port="+port)

	if _, err := topics(t, addr); err == nil {
		t.Fatal("the buffer lists its topics to a client without credentials")
	}
	if _, err := topics(t, addr, bufferAuth("not-the-secret")); err == nil {
		t.Fatal("the buffer lists its topics to a client with a wrong secret")
	}
	path := filepath.Join(dir, bufferSecretName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a 0600 file", path, fi, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	listed, err := topics(t, addr, bufferAuth(secret))
	if err != nil {
		t.Fatalf("with the secret: %v", err)
	}
	if !listed.Has("logs.app") {
		t.Fatalf("with the secret the buffer lists %v, want the catalog's topics (logs.app)", listed.Names())
	}

	in.stop()
	if _, err := os.Stat(filepath.Join(dir, bufferSASLState)); err != nil {
		t.Fatalf("the buffer's persisted credential is not where ensureBufferSecret looks: %v", err)
	}
	start(t, dir, "--kafka-port="+port)
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Fatal("the secret changed at the restart")
	}
	if _, err := topics(t, addr, bufferAuth(secret)); err != nil {
		t.Fatalf("after a restart, with the secret: %v", err)
	}
}

func TestBufferSecretFileBounds(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "\n", "too long": strings.Repeat("x", bufferSecretMaxBytes+1)} {
		if err := os.WriteFile(filepath.Join(dir, bufferSecretName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ensureBufferSecret(dir); err == nil || !strings.Contains(err.Error(), bufferSecretName) {
			t.Errorf("%s secret file: %v, want an error naming the file", name, err)
		}
	}
}

// A buffer that persisted its credential refuses a new secret: a missing
// secret file next to it is an error naming both, not a new secret.
func TestBufferSecretLostNextToItsBuffer(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "kafka"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bufferSASLState), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ensureBufferSecret(dir)
	if err == nil || !strings.Contains(err.Error(), bufferSecretName) || !strings.Contains(err.Error(), "kafka") {
		t.Fatalf("secret lost next to a persisted buffer: %v, want an error naming the file and the buffer", err)
	}
	if _, err := os.Stat(filepath.Join(dir, bufferSecretName)); err == nil {
		t.Fatal("a new secret was written that the buffer would refuse")
	}
}
