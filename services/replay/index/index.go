// Package index is what the replay service asks of a search target: a
// Backend that opens and drops one isolated index per replay. The indices
// themselves are the index layer's (internal/index): the names below are
// that package's, so the replay service and the all-in-one keep one
// vocabulary. Backends: package embedded (the embedded engine on local disk)
// and package opensearch (an index and alias per replay in a shared cluster).
package index

import (
	"context"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// The index layer's types and histogram helpers, as the replay service uses them.
type (
	Doc     = index.Doc
	Request = index.Request
	Result  = index.Result
	Index   = index.Index
	Rejects = index.Rejects
)

var (
	Buckets       = index.Buckets
	BucketEnd     = index.BucketEnd
	RoundInterval = index.RoundInterval
)

// Backend creates, opens and drops the indices of replays.
type Backend interface {
	// Open opens (creating if missing) the index of a replay, and says where
	// it lives (a directory, an index name, an address) for the user.
	Open(ctx context.Context, replay string) (Index, string, error)
	// Drop deletes a replay's index and everything it holds; a missing index
	// is not an error.
	Drop(ctx context.Context, replay string) error
}
