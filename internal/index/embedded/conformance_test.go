package embedded_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/conformance"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
)

// TestConformance: the embedded engine answers the conformance table as the
// query language defines it (e2e/conformance holds OpenSearch to the same).
func TestConformance(t *testing.T) {
	ix, err := embedded.Open(filepath.Join(t.TempDir(), "ix"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	docs := conformance.Events()
	// Twice: writing an event again replaces it.
	for range 2 {
		if err := ix.Put(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := ix.Count(context.Background()); n != int64(len(docs)) {
		t.Fatalf("%d documents after writing %d twice", n, len(docs))
	}
	if n := conformance.Check(t, map[string]index.Searcher{"embedded": ix}); n < 60 {
		t.Fatalf("only %d cases match anything: the table is too weak", n)
	}
}
