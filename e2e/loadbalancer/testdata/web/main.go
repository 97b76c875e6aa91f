// Command web is the tiny backend of the load-balancer e2e suite: it answers
// every request with its name (so the test sees which instance HAProxy
// picked), serves /healthz, and lets the test make that health check fail:
//
//	POST /health?ok=false   /healthz answers 503 from now on
//	POST /health?ok=true    /healthz answers 200 again
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	name := flag.String("name", "", "name to answer with (default: the host name)")
	flag.Parse()
	if *name == "" {
		*name, _ = os.Hostname()
	}
	if v := os.Getenv("WEB_NAME"); v != "" {
		*name = v
	}
	var healthy atomic.Bool
	healthy.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, *name) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /health", func(w http.ResponseWriter, r *http.Request) {
		healthy.Store(r.URL.Query().Get("ok") != "false")
		fmt.Fprintln(w, "healthy:", healthy.Load())
	})
	log.Printf("web %s listening on %s", *name, *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
