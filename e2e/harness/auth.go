package harness

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"google.golang.org/grpc"

	"github.com/hindsight-dev/hindsight/internal/auth"
)

// Authentication is on in every suite, as it is by default: every Hindsight
// container that Start starts (an image named hindsight/..., or one configured
// through HINDSIGHT_* variables, such as the load balancer's) gets one tokens
// file mounted read-only at AuthDir, HINDSIGHT_AUTH_TOKENS_FILE pointing at
// it, and the "service" principal's token as the token it sends to the
// services it calls (HINDSIGHT_AUTH_TOKEN_FILE, and HINDSIGHT_TOKEN_FILE for
// the CLI). The suites' own clients take a token of a principal from Token
// (or use HTTPClient and GRPCCredentials, which send the admin's).
//
// The principals, one token each:
const (
	Admin    = "admin"    // role admin
	Operator = "operator" // role operator
	Reader   = "reader"   // role reader
	Alice    = "alice"    // role operator: owns things in the suites
	Bob      = "bob"      // role operator: another user
	Service  = "service"  // role operator: what the services send each other
)

// AuthDir is where containers find the tokens file ("tokens") and each
// principal's token ("<principal>.token").
const AuthDir = "/etc/hindsight/auth"

var roles = map[string]auth.Role{
	Admin: auth.Admin, Operator: auth.Operator, Reader: auth.Reader,
	Alice: auth.Operator, Bob: auth.Operator, Service: auth.Operator,
}

var (
	authOnce   sync.Once
	authHost   string            // the host directory mounted at AuthDir
	authTokens map[string]string // principal -> token
	authErr    error
)

// setupAuth writes the tokens of this test binary once: fresh random tokens,
// the tokens file holding their digests.
func setupAuth() {
	base := os.Getenv("TEST_TMPDIR")
	dir, err := os.MkdirTemp(base, "hindsight-auth-")
	if err != nil {
		authErr = err
		return
	}
	// Containers run as another user (hindsight, 65532): readable by all.
	if err := os.Chmod(dir, 0o755); err != nil {
		authErr = err
		return
	}
	authTokens = map[string]string{}
	var lines []string
	for p, r := range roles {
		tok := auth.NewToken()
		authTokens[p] = tok
		lines = append(lines, auth.Line(tok, p, r))
		if err := os.WriteFile(filepath.Join(dir, p+".token"), []byte(tok+"\n"), 0o644); err != nil {
			authErr = err
			return
		}
	}
	authErr = os.WriteFile(filepath.Join(dir, "tokens"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	authHost = dir
}

func authReady(t testing.TB) {
	t.Helper()
	authOnce.Do(setupAuth)
	if authErr != nil {
		t.Fatalf("e2e tokens: %v", authErr)
	}
}

// Token is the bearer token of one of the principals above.
func Token(t testing.TB, principal string) string {
	t.Helper()
	authReady(t)
	tok, ok := authTokens[principal]
	if !ok {
		t.Fatalf("no principal %q in the e2e tokens", principal)
	}
	return tok
}

// AuthHostDir is the host directory holding the tokens file and tokens (for
// suites that mount it themselves, e.g. through docker compose).
func AuthHostDir(t testing.TB) string {
	t.Helper()
	authReady(t)
	return authHost
}

// AuthEnv is the environment that points a Hindsight binary at the mounted
// tokens (Start sets it on every Hindsight container).
func AuthEnv() map[string]string {
	return map[string]string{
		"HINDSIGHT_AUTH_TOKENS_FILE": AuthDir + "/tokens",
		"HINDSIGHT_AUTH_TOKEN_FILE":  AuthDir + "/" + Service + ".token",
		"HINDSIGHT_TOKEN_FILE":       AuthDir + "/" + Service + ".token",
	}
}

// AuthFlags are the flags that give a Hindsight binary run as a process of
// the test (not a container) the suite's tokens: those it accepts and the
// service token it sends.
func AuthFlags(t testing.TB) []string {
	t.Helper()
	dir := AuthHostDir(t)
	return []string{"--auth-tokens-file=" + filepath.Join(dir, "tokens"), "--auth-token-file=" + filepath.Join(dir, Service+".token")}
}

// withAuth gives a Hindsight container the tokens; variables the request
// sets itself win (a suite may turn auth off on purpose with HINDSIGHT_AUTH).
func withAuth(t testing.TB, req *testcontainers.ContainerRequest) {
	if !runsHindsight(req) {
		return
	}
	authReady(t)
	env := map[string]string{}
	for k, v := range AuthEnv() {
		env[k] = v
	}
	for k, v := range req.Env {
		env[k] = v
	}
	req.Env = env
	modify := req.HostConfigModifier
	req.HostConfigModifier = func(hc *container.HostConfig) {
		if modify != nil {
			modify(hc)
		}
		hc.Binds = append(hc.Binds, authHost+":"+AuthDir+":ro")
	}
}

func runsHindsight(req *testcontainers.ContainerRequest) bool {
	if strings.HasPrefix(req.Image, "hindsight/") {
		return true
	}
	for k := range req.Env {
		if strings.HasPrefix(k, "HINDSIGHT_") {
			return true
		}
	}
	return false
}

// Bearer is the Authorization header value of a principal.
func Bearer(t testing.TB, principal string) string { return "Bearer " + Token(t, principal) }

// GRPCCredentials sends the admin's token on every call of a connection.
func GRPCCredentials(t testing.TB) grpc.DialOption { return auth.WithToken(Token(t, Admin)) }

// HTTPClient sends the admin's token with every request that carries no
// Authorization of its own.
func HTTPClient(t testing.TB) *http.Client {
	return &http.Client{Transport: bearerTransport{Bearer(t, Admin)}}
}

type bearerTransport struct{ header string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", b.header)
	}
	return http.DefaultTransport.RoundTrip(r)
}
