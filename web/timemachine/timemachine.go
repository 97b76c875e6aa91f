// Package timemachine is the web page of replays and search: list replays
// with their progress, create one (datasets, time range, query, name), open
// it, search it (or live data) Discover-style: a histogram to zoom by
// dragging, a sidebar of fields with their top values to filter by, events
// opening into all their fields, chosen columns, relative ranges, live tail,
// follow one request through every dataset, export; delete it. Plain HTML, CSS and JavaScript served from the
// binary, talking to the REST gateway's /v1/replays and /v1/search.
//
// Links into the page look like /search?q=<query>&from=<RFC 3339>&to=..&replay=<name>
// (no replay: live data), or range=15m|1h|24h|7d instead of from and to, and
// sort=oldest, cols=<field>,.., follow=<request id>; the URL always holds the
// whole view, so it can be shared. The replay list is at /replays/.
package timemachine

import (
	"embed"

	"github.com/hindsight-dev/hindsight/web/page"
)

//go:embed static
var static embed.FS

// Mount serves the page at /replays/ and /search, its assets under
// /replays/static/.
func Mount(m page.Mounter) error {
	return page.Mount(m, page.Page{Static: static, Paths: []string{"/replays/{$}", "/search"}, Assets: "/replays/static/"})
}
