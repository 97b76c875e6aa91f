package auth

import (
	"errors"
	"flag"
	"fmt"
)

// Flags are the authentication settings every service shares.
type Flags struct {
	// Mode is "tokens" (the default: every call needs a token of the
	// tokens file) or "none" (the operator turned authentication off).
	Mode string
	// TokensFile lists the accepted tokens, hashed (see the package doc).
	TokensFile string
	// TokenFile holds the token this service sends when it calls others.
	TokenFile string
}

// Bind registers the flags on fs.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Mode, "auth", "tokens", `authentication on every port: "tokens" (a token of --auth-tokens-file on every call) or "none" (off; anyone who reaches a port may do anything)`)
	fs.StringVar(&f.TokensFile, "auth-tokens-file", "", `accepted tokens: lines of "sha256:<hex digest of the token> <principal> <reader|operator|admin>"`)
	fs.StringVar(&f.TokenFile, "auth-token-file", "", "file holding the bearer token this service sends to the services it calls")
}

// ErrNoTokens is returned when auth is on and no tokens file is given.
var ErrNoTokens = errors.New(`authentication is on and --auth-tokens-file is not set: give a tokens file (lines "sha256:<digest> <principal> <role>"), or turn authentication off with --auth=none`)

// Authenticator builds the checker the flags describe.
func (f Flags) Authenticator() (*Authenticator, error) {
	switch f.Mode {
	case "none":
		return Off(), nil
	case "tokens", "":
		if f.TokensFile == "" {
			return nil, ErrNoTokens
		}
		t, err := LoadTokens(f.TokensFile)
		if err != nil {
			return nil, err
		}
		return New(t), nil
	default:
		return nil, fmt.Errorf("--auth=%q: want tokens or none", f.Mode)
	}
}

// ClientToken is the token to send to other services ("" when none is set).
func (f Flags) ClientToken() (string, error) {
	if f.TokenFile == "" {
		return "", nil
	}
	return ReadToken(f.TokenFile)
}
