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
	// bufferSASLState is where kfake persists its credentials under the
	// data directory (kfake.DataDir is <data-dir>/kafka).
	bufferSASLState = "kafka/sasl.json"
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
		// The buffer keeps the credential it was given with its data and
		// would refuse a new secret: say so rather than fail at every login.
		if _, err := os.Stat(filepath.Join(dataDir, bufferSASLState)); err == nil {
			return "", fmt.Errorf("%s is missing but the buffer in %s keeps the credential it was made with: restore the file, or remove both", path, filepath.Dir(filepath.Join(dataDir, bufferSASLState)))
		}
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
