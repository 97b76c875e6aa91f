package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/server"
)

// The all-in-one listens on loopback by default, where only this host can
// call it. Asked to listen elsewhere it requires tokens: --auth-tokens-file,
// or, without one, a tokens file it creates in its data directory on first
// start, with an admin token beside it (printed once).
const (
	tokensFileName = "auth/tokens"      // digests: what the server accepts
	adminTokenName = "auth/admin.token" // the first admin's token itself (0600)
)

// settleAuth runs after the flags are parsed (server.Flags.Prepare): it
// decides how the all-in-one authenticates from where it listens.
func (c *config) settleAuth(f *server.Flags, log *slog.Logger) error {
	if f.Auth.Mode != "tokens" || f.Auth.TokensFile != "" {
		return nil // --auth=none (warned about by the server), or tokens given
	}
	addrs := []string{f.GRPCAddr, c.apps.gateway.HTTPAddr}
	if f.AdminAddr != "" {
		addrs = append(addrs, f.AdminAddr)
	}
	exposed := false
	for _, a := range addrs {
		exposed = exposed || !server.IsLoopback(a)
	}
	if !exposed {
		log.Info("listening on loopback only: authentication off (any user of this host may call); listen on another address or give --auth-tokens-file to require tokens",
			"grpc", f.GRPCAddr, "rest", c.apps.gateway.HTTPAddr)
		f.Auth.Mode = "none"
		return nil
	}
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	tokens, created, err := ensureTokens(dataDir)
	if err != nil {
		return fmt.Errorf("listening beyond loopback needs tokens: %w (or give --auth-tokens-file)", err)
	}
	f.Auth.TokensFile = tokens
	admin := filepath.Join(dataDir, adminTokenName)
	if created != "" {
		// Once, on stdout: the operator needs it to log in.
		fmt.Printf("hindsight all-in-one: authentication is on; created admin token %s\n  saved in %s (the accepted tokens are listed, hashed, in %s)\n", created, admin, tokens)
		log.Warn("listening beyond loopback: created a tokens file with an admin token", "tokens_file", tokens, "admin_token_file", admin)
	} else {
		log.Info("listening beyond loopback: authentication on", "tokens_file", tokens, "admin_token_file", admin)
	}
	return nil
}

// ensureTokens returns the data directory's tokens file, creating it with a
// fresh admin token (returned) when there is none yet.
func ensureTokens(dataDir string) (path, created string, err error) {
	path = filepath.Join(dataDir, tokensFileName)
	if _, err := os.Stat(path); err == nil {
		return path, "", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", err
	}
	tok := auth.NewToken()
	// The token first, then the digest: a crash in between leaves a token
	// file without a tokens file, and the next start makes both anew.
	if err := writeFile(filepath.Join(dataDir, adminTokenName), tok+"\n"); err != nil {
		return "", "", err
	}
	content := "# created by the all-in-one at its first start beyond loopback; add lines for more principals\n" +
		auth.Line(tok, "admin", auth.Admin) + "\n"
	if err := writeFile(path, content); err != nil {
		return "", "", err
	}
	return path, tok, nil
}

// writeFile writes content durably under path (0600), replacing any file.
func writeFile(path, content string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
