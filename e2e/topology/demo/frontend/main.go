// Command frontend is the topology demo's entry service: every GET
// /items/{id} is one call to the api service, whose status it returns (502
// when the api cannot be reached). The query string is passed on, so the load
// generator can ask the api for failures.
package main

import (
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	api := flag.String("api", "http://api:8081", "base URL of the api service")
	flag.Parse()
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(*api + "/items/" + r.PathValue("id") + "?" + r.URL.RawQuery)
		if err != nil {
			http.Error(w, "api unreachable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	// Logged once listening: the e2e suite waits for this line.
	slog.Info("frontend listening", "addr", *addr, "api", *api)
	if err := http.Serve(lis, mux); err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}
