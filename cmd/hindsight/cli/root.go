// Package cli is the hindsight command: one cobra command per resource (replay,
// search, datasets, routes, apply, members, graph) over the four gRPC APIs.
// Main runs it and turns errors into the documented exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes, stable for scripts (listed in the root command's help).
const (
	exitOK          = 0
	exitError       = 1 // anything else (internal errors, I/O)
	exitUsage       = 2 // bad flag, argument, file, or a field the server refused (InvalidArgument)
	exitNotFound    = 3
	exitAuth        = 4 // no or a wrong token (Unauthenticated), or a role that may not (PermissionDenied)
	exitUnavailable = 5 // server unreachable, or a deadline passed
	exitConflict    = 6 // AlreadyExists, FailedPrecondition
	exitFailed      = 7 // `replay wait`: the replay FAILED or EXPIRED
)

const rootLong = `hindsight is the command-line client of Hindsight: replays, search, datasets
and routes, members and the live service graph, over gRPC.

It talks to the all-in-one's gRPC port (localhost:9090) by default; in the split
deployment point each API at its service with --replay-server, --routing-server,
--membership-server and --topology-server (or HINDSIGHT_<API>_SERVER).

Authentication: the same bearer token as the web pages, from --token,
HINDSIGHT_TOKEN, --token-file or HINDSIGHT_TOKEN_FILE (first non-empty wins).

Exit codes: 0 ok, 1 error, 2 bad usage or a field the server refused (the
message names the field), 3 not found, 4 not authenticated or not allowed,
5 server unavailable or timed out, 6 conflict (exists, or in use),
7 a replay waited for failed.`

const rootExample = `  hindsight replay create yesterday --dataset nginx.access --from 2026-12-01 --to 2026-12-02 --wait
  hindsight search 'log.level:error AND service.name:api' --since 1h
  hindsight search payment --follow -o ndjson | jq .message
  hindsight apply -f datasets.yaml
  hindsight members watch --service web
  hindsight graph --window 5m
  source <(hindsight completion bash)`

// app is what every command shares: flags, streams, and the lazily dialled
// connections.
type app struct {
	in       io.Reader
	out, err io.Writer
	conn     connFlags
	clients  *clients
	now      func() time.Time
	running  bool // a command's RunE began
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	a := &app{in: in, out: out, err: errw, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errw)
	err := root.ExecuteContext(ctx)
	if a.clients != nil {
		a.clients.close()
	}
	if err == nil {
		return exitOK
	}
	msg, code := describe(err)
	if !a.running {
		code = exitUsage
	}
	fmt.Fprintln(errw, "hindsight: "+msg)
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "hindsight",
		Short:         "Command-line client of Hindsight (replays, search, datasets, members, graph)",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true, // Main prints them, with the field at fault
		SilenceUsage:  true,
	}
	// Flag and argument errors are usage errors: exit 2, naming the flag.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	a.conn.bind(root)
	root.AddCommand(a.replayCommand(), a.searchCommand(), a.datasetsCommand(), a.routesCommand(),
		a.applyCommand(), a.deleteFileCommand(), a.membersCommand(), a.graphCommand(), a.healthCommand())
	a.markRuns(root)
	return root
}

// markRuns records that a command's RunE began: an error before it (an
// unknown command, a missing required flag) is a usage error.
func (a *app) markRuns(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			a.running = true
			return run(c, args)
		}
	}
	for _, sub := range c.Commands() {
		a.markRuns(sub)
	}
}

// usageError marks a mistake in the command line or an input file (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exactArgs is cobra.ExactArgs with the argument's name in the message and a
// usage exit code.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s: want %s, got %d argument(s)", c.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

func minArgs(name string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("%s: want at least one %s", c.CommandPath(), name)
		}
		return nil
	}
}

// exitCode of a Main error that is no gRPC status.
func localExitCode(err error) int {
	var u usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.Is(err, errReplayFailed):
		return exitFailed
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	case errors.Is(err, os.ErrNotExist):
		return exitUsage
	}
	return exitError
}
