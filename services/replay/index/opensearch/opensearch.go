// Package opensearch gives each replay its own index in a shared OpenSearch
// (or Elasticsearch-compatible) cluster: the concrete index
// "hindsight-replay-<name>" behind the alias "replay-<name>", which is what
// people point Dashboards at, with the index layer's one mapping. Dropping a
// replay deletes the index, and its alias with it. Live searches go over the
// indexer's daily indices (logs-*) through the same Search.
package opensearch

import (
	"context"

	"github.com/hindsight-dev/hindsight/internal/index"
	osindex "github.com/hindsight-dev/hindsight/internal/index/opensearch"
	replayindex "github.com/hindsight-dev/hindsight/services/replay/index"
)

// LivePattern matches the indexer's daily indices, logs-<dataset>-YYYY.MM.DD.
const LivePattern = index.LivePattern

// IndexName and AliasName name a replay's index and alias.
func IndexName(replay string) string { return "hindsight-replay-" + replay }

// AliasName is the alias searches and people use.
func AliasName(replay string) string { return "replay-" + replay }

// Backend creates and drops replay indices in one cluster.
type Backend struct {
	c *osindex.Client
}

// New connects (lazily) to the cluster at url (http://host:9200; user info in
// the URL is used for basic auth).
func New(url string) (*Backend, error) {
	c, err := osindex.New(osindex.Config{URLs: []string{url}})
	if err != nil {
		return nil, err
	}
	return &Backend{c: c}, nil
}

// Open creates the replay's index and alias unless they exist.
func (b *Backend) Open(ctx context.Context, replay string) (replayindex.Index, string, error) {
	name, alias := IndexName(replay), AliasName(replay)
	if err := b.c.CreateIndex(ctx, name, alias); err != nil {
		return nil, "", err
	}
	return b.c.Index(name, alias), alias, nil
}

// Drop deletes the replay's index (and so its alias).
func (b *Backend) Drop(ctx context.Context, replay string) error {
	return b.c.DeleteIndex(ctx, IndexName(replay))
}

// Live is the read-only index over the live daily indices.
func (b *Backend) Live() replayindex.Index { return b.c.Live() }

// Ping checks that the cluster answers.
func (b *Backend) Ping(ctx context.Context) error { return b.c.Ping(ctx) }
