// Command replay is the time machine (hindsight.replay.v1.ReplayService): it
// replays past ranges of the archive (or of a legacy tree of raw .gz files)
// into isolated, searchable indices, and searches them and the live indices.
// See services/replay/app.
//
// Every flag can also be set from the environment, e.g. --archive-url from
// HINDSIGHT_ARCHIVE_URL.
package main

import (
	"context"
	"flag"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	// The archive and legacy-tree URL schemes this binary reads.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/hindsight-dev/hindsight/internal/etcdclient"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/services/replay/app"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
	"github.com/hindsight-dev/hindsight/services/replay/index/opensearch"
)

const name = "replay"

type config struct {
	etcdclient.Service
	ArchiveURL    string
	OpenSearchURL string
	DataDir       string
	app           app.Flags
}

func (c *config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.ArchiveURL, "archive-url", "file:///data/archive", "archive to replay from (file:///dir or s3://bucket?...)")
	fs.StringVar(&c.OpenSearchURL, "opensearch-url", "", "OpenSearch for replay indices and live search (empty: embedded indices only, no live search)")
	fs.StringVar(&c.DataDir, "data-dir", "replays", "directory of the embedded indices")
	c.app.Bind(fs)
}

func main() { server.Main(binary()) }

func binary() server.Binary {
	c := new(config)
	return c.Binary(name, ":9201", ":9202", c.bind, c.start)
}

func (c *config) start(_ context.Context, s *server.Server, cli *clientv3.Client) error {
	d := app.Deps{Etcd: cli, ArchiveURL: c.ArchiveURL}
	var err error
	if d.Embedded, err = embedded.New(c.DataDir); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if c.OpenSearchURL != "" {
		os, err := opensearch.New(c.OpenSearchURL)
		if err != nil {
			return fmt.Errorf("--opensearch-url: %w", err)
		}
		d.OpenSearch, d.Live = os, os.Live()
	}
	return app.Start(s, c.app, d)
}
