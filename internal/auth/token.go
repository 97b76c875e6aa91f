// Package auth is how every Hindsight port knows who is calling: bearer
// tokens listed (hashed) in a file, each naming a principal and a role; gRPC
// interceptors that check them against one table of roles per RPC; per-RPC
// credentials for calls between services; and the same check for HTTP.
//
// A tokens file has one token per line, as its SHA-256 digest, then the
// principal the token stands for, then its role:
//
//	# digest                                                                 principal role
//	sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 alice     admin
//
// The file never holds a token itself, so reading it does not let anyone in.
// Tokens are random (NewToken: 256 bits), so a plain SHA-256 is enough; slow
// password hashes are for secrets people choose.
package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Role is what a principal may do; each role may do what the ones below it may.
type Role int

const (
	// Reader searches, lists and reads graphs.
	Reader Role = iota + 1
	// Operator also creates and deletes replays, registers members, ingests
	// and reports flows.
	Operator
	// Admin also changes datasets, routes and topics, and deletes anyone's replay.
	Admin
)

var roleNames = map[Role]string{Reader: "reader", Operator: "operator", Admin: "admin"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads "reader", "operator" or "admin".
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (reader, operator or admin)", s)
}

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role Role
}

// Can reports whether p's role includes r.
func (p Principal) Can(r Role) bool { return p.Role >= r }

var principalRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)

const digestPrefix = "sha256:"

// Digest is how a token is written in a tokens file.
func Digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return digestPrefix + hex.EncodeToString(d[:])
}

// NewToken returns a fresh random token (256 bits, URL-safe, "hst_" first so
// that secret scanners and people recognise it).
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return "hst_" + base64.RawURLEncoding.EncodeToString(b)
}

// Line is a tokens-file line for token.
func Line(token, principal string, role Role) string {
	return fmt.Sprintf("%s %s %s", Digest(token), principal, role)
}

// Tokens maps token digests to principals.
type Tokens map[string]Principal

// Lookup finds the principal of a presented token.
func (t Tokens) Lookup(token string) (Principal, bool) {
	p, ok := t[Digest(token)]
	return p, ok
}

// ParseTokens reads a tokens file's content; errors name the line.
func ParseTokens(content string) (Tokens, error) {
	out := Tokens{}
	sc := bufio.NewScanner(strings.NewReader(content))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"sha256:<hex digest of the token> <principal> <role>\", got %d fields", n, len(f))
		}
		hexd, ok := strings.CutPrefix(f[0], digestPrefix)
		if b, err := hex.DecodeString(hexd); !ok || err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("line %d: %q is not sha256:<64 hex digits> (the file holds digests, never tokens)", n, truncate(f[0]))
		}
		if !principalRE.MatchString(f[1]) {
			return nil, fmt.Errorf("line %d: principal %q must be 1-128 letters, digits and . _ @ : -", n, truncate(f[1]))
		}
		role, err := ParseRole(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		key := digestPrefix + strings.ToLower(hexd)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: the same token is listed twice", n)
		}
		out[key] = Principal{Name: f[1], Role: role}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no tokens")
	}
	return out, nil
}

// LoadTokens reads a tokens file.
func LoadTokens(path string) (Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	t, err := ParseTokens(string(b))
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return t, nil
}

// ReadToken reads the token a client sends from a file: its first line that
// is neither blank nor a '#' comment.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", fmt.Errorf("token file %s holds no token", path)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
