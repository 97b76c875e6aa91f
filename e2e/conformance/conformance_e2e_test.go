// Package conformance_test holds the query language to one meaning on a real
// OpenSearch: the conformance table (internal/index/conformance) against the
// daily indices the indexer writes (template), a replay's standalone index
// (index body), and the embedded engine, loaded with the same events.
package conformance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/conformance"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/index/opensearch"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestSameAnswersOnEveryBackend(t *testing.T) {
	ctx := context.Background()
	os := harness.StartOpenSearch(t, nil)
	c, err := opensearch.New(opensearch.Config{URLs: []string{os.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	docs := conformance.Events()

	// The indexer's way: the template, then each event into its daily index.
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, "", docs, opensearch.Backoff{}); err != nil {
		t.Fatal(err)
	}
	live := c.Live()
	// A replay's way: one standalone index behind an alias.
	if err := c.CreateIndex(ctx, "hindsight-replay-conformance", "replay-conformance"); err != nil {
		t.Fatal(err)
	}
	replay := c.Index("hindsight-replay-conformance", "replay-conformance")
	for _, d := range docs {
		d.Index = ""
		if err := replay.Put(ctx, []index.Doc{d}); err != nil {
			t.Fatal(err)
		}
	}
	// Written twice: ids make it idempotent.
	if err := replay.Put(ctx, docs[:3]); err != nil {
		t.Fatal(err)
	}
	emb, err := embedded.Open(filepath.Join(t.TempDir(), "embedded"))
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if err := emb.Put(ctx, docs); err != nil {
		t.Fatal(err)
	}
	for name, ix := range map[string]index.Index{"daily indices": live, "replay index": replay, "embedded": emb} {
		if err := ix.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := ix.Count(ctx); err != nil || n != int64(len(docs)) {
			t.Fatalf("%s: count %d (%v), want %d", name, n, err, len(docs))
		}
	}
	n := conformance.Check(t, map[string]index.Searcher{"opensearch daily indices": live, "opensearch replay index": replay, "embedded": emb})
	t.Logf("%d cases (%d queries), %d match some events, on 3 backends", len(conformance.Cases()), len(conformance.Queries), n)
}
