// Package topology is the live topology page: a static page (index.html,
// app.css and app.js, the bundle web/topology/build.sh makes with Vizceral)
// that the gateway and the all-in-one serve, e.g. at /topology/. It reads the
// graph from the REST API (/v1/graph, /v1/graph/vizceral) on the same origin.
package topology

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page under prefix (e.g. "/topology/", with the slash).
// Mount it for the prefix and for the prefix without its slash, which
// redirects.
func Handler(prefix string) http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fileServer := http.StripPrefix(prefix, http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix[:len(prefix)-1] {
			http.Redirect(w, r, prefix, http.StatusMovedPermanently)
			return
		}
		// The page is small and changes with each release: revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// Mounter is what serves the page: the gateway (gateway.Gateway.Handle).
type Mounter interface {
	Handle(pattern string, h http.Handler) error
}

// Mount serves the page at prefix (e.g. "/topology/") and redirects the
// prefix without its slash there.
func Mount(m Mounter, prefix string) error {
	h := Handler(prefix)
	if err := m.Handle("GET "+prefix, h); err != nil {
		return err
	}
	return m.Handle("GET "+prefix[:len(prefix)-1], h)
}
