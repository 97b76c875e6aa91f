package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

// The embedded Kafka-protocol buffer (kfake) can only listen on TCP, on
// loopback. Every port authenticates, so it requires SCRAM-SHA-256: one
// superuser whose secret is made at the first start and kept (0600) in the
// data directory, where the operator finds it for kcat or kafka-console-*
// tools. A stable secret, not one per start, because the buffer persists
// its credentials with its data and would refuse a new one.
const (
	bufferUser       = "hindsight"
	bufferSecretName = "kafka-secret"
	// bufferSecretMaxBytes bounds what is read back: the file is ours, but
	// an operator may have replaced it.
	bufferSecretMaxBytes = 1024
)

// buffer is how the apps reach the embedded buffer.
type buffer struct {
	brokers []string
	opts    []kgo.Opt // authentication, quick topic discovery
}

// bufferAuth is the client option that authenticates to the buffer.
func bufferAuth(secret string) kgo.Opt {
	return kgo.SASL(scram.Auth{User: bufferUser, Pass: secret}.AsSha256Mechanism())
}

// ensureBufferSecret returns the buffer's secret, creating it on first use.
func ensureBufferSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, bufferSecretName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := auth.NewToken()
		if err := writeFile(path, secret+"\n"); err != nil {
			return "", err
		}
		return secret, nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, bufferSecretMaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	secret := strings.TrimSpace(string(b))
	switch {
	case len(b) > bufferSecretMaxBytes:
		return "", fmt.Errorf("%s: longer than %d bytes", path, bufferSecretMaxBytes)
	case secret == "":
		return "", fmt.Errorf("%s: empty", path)
	}
	return secret, nil
}
