// Package page serves the gateway's static web pages (timemachine, volume)
// one way and holds what they share, under /page/static/: page.css (the
// palette, the header with its token field, cards and forms) and token.js
// (the tab's bearer token and the API calls that carry it).
package page

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var shared embed.FS

// SharedAssets is where the shared files are served.
const SharedAssets = "/page/static/"

// Mounter is what the pages are mounted on (the gateway).
type Mounter interface {
	Handle(pattern string, h http.Handler) error
}

// Page is one page: Static holds static/index.html, served at each of
// Paths (patterns without the method), and the page's assets, served
// under Assets.
type Page struct {
	Static fs.FS
	Paths  []string
	Assets string
}

// Mount serves p on m. The HTML is revalidated on every load (it changes
// with each release); assets are served as files.
func Mount(m Mounter, p Page) error {
	files, err := fs.Sub(p.Static, "static")
	if err != nil {
		return err
	}
	index := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	})
	for _, path := range p.Paths {
		if err := m.Handle("GET "+path, index); err != nil {
			return err
		}
	}
	return m.Handle("GET "+p.Assets, http.StripPrefix(p.Assets, http.FileServerFS(files)))
}

// MountShared serves the shared files under SharedAssets.
func MountShared(m Mounter) error {
	files, err := fs.Sub(shared, "static")
	if err != nil {
		return err
	}
	return m.Handle("GET "+SharedAssets, http.StripPrefix(SharedAssets, http.FileServerFS(files)))
}
