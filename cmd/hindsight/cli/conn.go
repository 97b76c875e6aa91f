package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/auth"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// maxTokenFile bounds --token-file: a token is a line, not a document.
const maxTokenFile = 64 << 10

// connFlags say where the APIs are and how to authenticate.
type connFlags struct {
	server                                string
	replay, routing, membership, topology string
	token, tokenFile                      string
	timeout                               time.Duration
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (f *connFlags) bind(root *cobra.Command) {
	p := root.PersistentFlags()
	p.StringVar(&f.server, "server", env("HINDSIGHT_SERVER", "localhost:9090"), "gRPC address serving every API (the all-in-one's; env HINDSIGHT_SERVER)")
	p.StringVar(&f.replay, "replay-server", env("HINDSIGHT_REPLAY_SERVER", ""), "gRPC address of the replay service (default --server; env HINDSIGHT_REPLAY_SERVER)")
	p.StringVar(&f.routing, "routing-server", env("HINDSIGHT_ROUTING_SERVER", ""), "gRPC address of the router's RoutingService (default --server; env HINDSIGHT_ROUTING_SERVER)")
	p.StringVar(&f.membership, "membership-server", env("HINDSIGHT_MEMBERSHIP_SERVER", ""), "gRPC address of the membership service (default --server; env HINDSIGHT_MEMBERSHIP_SERVER)")
	p.StringVar(&f.topology, "topology-server", env("HINDSIGHT_TOPOLOGY_SERVER", ""), "gRPC address of the topology service (default --server; env HINDSIGHT_TOPOLOGY_SERVER)")
	p.StringVar(&f.token, "token", "", "bearer token (default env HINDSIGHT_TOKEN, else --token-file)")
	p.StringVar(&f.tokenFile, "token-file", env("HINDSIGHT_TOKEN_FILE", ""), "file holding the bearer token (env HINDSIGHT_TOKEN_FILE)")
	p.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each call (not of streams: watch, follow, wait)")
}

// bearer is the token the flags name, or "" for none. A token on the command
// line is visible to other users of the machine (ps): the environment and a
// file are the better places, hence the order.
func (f *connFlags) bearer() (string, error) {
	if f.token != "" {
		return f.token, nil
	}
	if t := os.Getenv("HINDSIGHT_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	if f.tokenFile == "" {
		return "", nil
	}
	fh, err := os.Open(f.tokenFile)
	if err != nil {
		return "", usagef("--token-file: %w", err)
	}
	defer fh.Close()
	b := make([]byte, maxTokenFile+1)
	n, _ := fh.Read(b)
	if n > maxTokenFile {
		return "", usagef("--token-file: %s is over %d bytes", f.tokenFile, maxTokenFile)
	}
	t := strings.TrimSpace(string(b[:n]))
	if t == "" {
		return "", usagef("--token-file: %s is empty", f.tokenFile)
	}
	return t, nil
}

// clients are the API clients, dialled once per address on first use.
type clients struct {
	flags *connFlags
	conns map[string]*grpc.ClientConn
}

func (c *clients) dial(addr string) (*grpc.ClientConn, error) {
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	tok, err := c.flags.bearer()
	if err != nil {
		return nil, err
	}
	// Plaintext is allowed: TLS, where used, is the deployment's (a mesh or
	// a terminating proxy); the token is what authenticates.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), auth.WithToken(tok))
	if err != nil {
		return nil, usagef("server address %q: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *clients) close() {
	for _, cc := range c.conns {
		_ = cc.Close()
	}
}

func (a *app) dial(specific string) (*grpc.ClientConn, error) {
	if a.clients == nil {
		a.clients = &clients{flags: &a.conn, conns: map[string]*grpc.ClientConn{}}
	}
	addr := specific
	if addr == "" {
		addr = a.conn.server
	}
	return a.clients.dial(addr)
}

func (a *app) replay() (replayv1.ReplayServiceClient, error) {
	cc, err := a.dial(a.conn.replay)
	if err != nil {
		return nil, err
	}
	return replayv1.NewReplayServiceClient(cc), nil
}

func (a *app) routing() (routingv1.RoutingServiceClient, error) {
	cc, err := a.dial(a.conn.routing)
	if err != nil {
		return nil, err
	}
	return routingv1.NewRoutingServiceClient(cc), nil
}

func (a *app) membership() (membershipv1.MembershipServiceClient, error) {
	cc, err := a.dial(a.conn.membership)
	if err != nil {
		return nil, err
	}
	return membershipv1.NewMembershipServiceClient(cc), nil
}

func (a *app) topology() (topologyv1.TopologyServiceClient, error) {
	cc, err := a.dial(a.conn.topology)
	if err != nil {
		return nil, err
	}
	return topologyv1.NewTopologyServiceClient(cc), nil
}

// call is the context of one unary call: --timeout from ctx.
func (a *app) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.conn.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.conn.timeout)
}

// describe is the message and exit code of err. A server's InvalidArgument
// lists the fields at fault (google.rpc.BadRequest) one per line.
func describe(err error) (string, int) {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error(), localExitCode(err)
	}
	msg := st.Message()
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			var lines []string
			for _, v := range br.GetFieldViolations() {
				lines = append(lines, fmt.Sprintf("field %s: %s", v.GetField(), v.GetDescription()))
			}
			msg = strings.Join(lines, "\n  ")
		}
	}
	msg = fmt.Sprintf("%s (%s)", msg, st.Code())
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return msg, exitUsage
	case codes.NotFound:
		return msg, exitNotFound
	case codes.Unauthenticated, codes.PermissionDenied:
		return msg, exitAuth
	case codes.Unavailable, codes.DeadlineExceeded:
		return msg, exitUnavailable
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		return msg, exitConflict
	case codes.Canceled:
		return msg, exitError
	}
	var u usageError
	if errors.As(err, &u) {
		return msg, exitUsage
	}
	return msg, exitError
}
