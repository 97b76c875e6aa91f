// Package reconnect keeps a stream followed: it calls the follower again
// whenever it returns, waiting longer after each quick failure, so a dead
// engine is not hammered and a healthy one is reattached at once.
package reconnect

import (
	"context"
	"log/slog"
	"time"
)

// The wait after a failure doubles from Min up to Max; a follow that lasted
// Healthy or longer starts the doubling over.
const (
	Min     = 500 * time.Millisecond
	Max     = 15 * time.Second
	Healthy = time.Minute
)

// Forever calls follow until ctx ends, logging each failure as msg with the
// error and the wait before the next attempt. It returns nil once ctx ends.
func Forever(ctx context.Context, log *slog.Logger, msg string, follow func(context.Context) error) error {
	backoff := Min
	for {
		start := time.Now()
		err := follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) >= Healthy {
			backoff = Min
		}
		log.Warn(msg, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, Max)
	}
}
