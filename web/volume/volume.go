// Package volume is the volume watch's page (/volume): a sparkline of events
// per bucket for every dataset (and, opened, its services and hosts), the
// baseline's expectation, and the anomalies (drop, spike, silent host) marked
// on the line and listed, each linking to the search of its range. Plain
// HTML, CSS and JavaScript served from the binary, reading the REST
// gateway's /v1/volume on the same origin.
//
// The URL holds the view: /volume?dataset=<name>&buckets=<n>&breakdown=1.
package volume

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Mounter is what the page is mounted on (the gateway).
type Mounter interface {
	Handle(pattern string, h http.Handler) error
}

// Mount serves the page at /volume and its assets under /volume/static/.
func Mount(m Mounter) error {
	files, err := fs.Sub(static, "static")
	if err != nil {
		return err
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	})
	for pattern, h := range map[string]http.Handler{
		"GET /volume":         page,
		"GET /volume/{$}":     page,
		"GET /volume/static/": http.StripPrefix("/volume/static/", http.FileServerFS(files)),
	} {
		if err := m.Handle(pattern, h); err != nil {
			return err
		}
	}
	return nil
}
