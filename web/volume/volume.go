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

	"github.com/hindsight-dev/hindsight/web/page"
)

//go:embed static
var static embed.FS

// Mount serves the page at /volume and its assets under /volume/static/.
func Mount(m page.Mounter) error {
	return page.Mount(m, page.Page{Static: static, Paths: []string{"/volume", "/volume/{$}"}, Assets: "/volume/static/"})
}
