package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NewHTTPServer returns an http.Server for h with the gateway's timeouts.
// There is no overall read or write timeout, since streams (Watch, ingest)
// legitimately last long: headers must arrive within 10s, unary calls are bounded
// by Config.CallTimeout, bodies by Config.MaxBodyBytes and Config.BodyTimeout, and idle keep-alive
// connections are closed after 2 minutes.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
}

// Serve serves h on lis until ctx is done, then shuts down gracefully: it
// stops accepting, lets in-flight requests finish for up to timeout, then
// closes whatever is left. Cancel the Gateway's context at the same time (or
// use the same ctx) so open streams end instead of holding the drain up. It
// returns nil after a shutdown, or the error that stopped serving.
func Serve(ctx context.Context, lis net.Listener, h http.Handler, timeout time.Duration) error {
	srv := NewHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("http drain: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
