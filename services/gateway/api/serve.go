package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// BodyTimeout bounds the arrival of a request's body, from the end of its
// headers: a client that starts a body and never finishes it (slowloris) is
// cut off. Under /v1/ it is answered 408; elsewhere, and after an early answer
// (a 401 without reading the body: net/http still reads what is left before
// replying), the connection is closed.
const BodyTimeout = time.Minute

// NewHTTPServer returns an http.Server for h with the gateway's timeouts.
// There is no overall read or write timeout, since streams (Watch, export)
// legitimately last long: headers must arrive within 10s, bodies within
// BodyTimeout and up to Config.MaxBodyBytes, unary calls are bounded by
// Config.CallTimeout, and idle keep-alive connections are closed after 2
// minutes.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h, BodyTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
}

// bodyDeadline sets the connection's read deadline d ahead for a request
// with a body. net/http lifts it once the body has been read to its end (it
// then reads in the background, without a deadline, to notice a client
// leaving), so a long answer or a stream is not cut.
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
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
