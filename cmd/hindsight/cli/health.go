package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func (a *app) healthCommand() *cobra.Command {
	var service string
	return &cobra.Command{
		Use:   "health [ADDRESS...]",
		Short: "Check that services answer gRPC health as SERVING (exit 0), for scripts and container health checks",
		Long: `Asks each address (default --server) for its gRPC health (grpc.health.v1) and
prints one line per address. Exit 0 when every one is SERVING, 5 otherwise.
Every Hindsight image carries this binary, so a Docker health check is
["CMD", "hindsight", "health", "localhost:<grpc port>"].`,
		Example: `  hindsight health
  hindsight health router:9101 replay:9201 membership:9301 topology:9501
  hindsight health localhost:9101 --service hindsight.routing.v1.RoutingService`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{a.conn.server}
			}
			var down []string
			for _, addr := range args {
				cc, err := a.dial(addr)
				if err != nil {
					return err
				}
				ctx, cancel := a.call(c.Context())
				resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
				cancel()
				st := resp.GetStatus().String()
				if err != nil {
					st = fmt.Sprintf("%s: %s", status.Code(err), status.Convert(err).Message())
				}
				fmt.Fprintf(a.out, "%s %s\n", addr, st)
				if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					down = append(down, addr)
				}
			}
			if len(down) > 0 {
				return status.Errorf(codes.Unavailable, "not serving: %s", strings.Join(down, ", "))
			}
			return nil
		},
	}
}
