// Command hindsight is Hindsight's command-line client: replays (with progress),
// search (table, JSON, NDJSON, live tail), datasets and routes applied from YAML,
// members and the service graph, over gRPC. See `hindsight --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hindsight-dev/hindsight/cmd/hindsight/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
