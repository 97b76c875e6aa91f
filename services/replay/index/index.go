// Package index is what the replay service asks of a search target: put
// events by id, search them with a query, a time range, a page and a
// histogram, and tear the index down. Each replay has its own index, isolated
// from every other; the live daily indices are searched through the same
// interface. Implementations: package embedded (Bleve on local disk) and
// package opensearch (an index and alias per replay in a shared cluster).
package index

import (
	"context"
	"time"

	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// Doc is one event to index.
type Doc struct {
	// ID is the event's deterministic id: putting it again replaces it.
	ID   string
	Time time.Time
	// Source is the event's ECS JSON document, returned by searches as is.
	Source []byte
	// Fields is Source decoded (the loader decodes it once to filter it).
	Fields map[string]any
}

// Request is one search.
type Request struct {
	Query query.Node
	// From and To bound @timestamp: [From, To).
	From, To time.Time
	// Datasets restricts data_stream.dataset (empty: all).
	Datasets []string
	// Offset and Size select the page.
	Offset, Size int
	// Oldest sorts oldest first (default newest first).
	Oldest bool
	// Buckets are the histogram's bucket starts, equally spaced, the first
	// at or before From; the last ends at To. None: no histogram.
	Buckets []time.Time
}

// Result is one page of hits.
type Result struct {
	// Hits are ECS JSON documents, in the requested order.
	Hits  [][]byte
	Total int64
	// Counts are the events per bucket of Request.Buckets.
	Counts []int64
}

// Index is one searchable set of events.
type Index interface {
	// Put indexes docs, replacing any with the same id. When it returns, the
	// docs are durable in the index, but maybe not yet visible to searches.
	Put(ctx context.Context, docs []Doc) error
	// Refresh makes everything put so far visible to searches.
	Refresh(ctx context.Context) error
	Search(ctx context.Context, r Request) (*Result, error)
	// Count is the number of events in the index (after a Refresh).
	Count(ctx context.Context) (int64, error)
	// Close releases the index (not its data).
	Close() error
}

// Backend creates, opens and drops the indices of replays.
type Backend interface {
	// Open opens (creating if missing) the index of a replay, and says where
	// it lives (a directory, an index name, an address) for the user.
	Open(ctx context.Context, replay string) (Index, string, error)
	// Drop deletes a replay's index and everything it holds; a missing index
	// is not an error.
	Drop(ctx context.Context, replay string) error
}

// Buckets splits [from, to) into buckets of width interval, at most max of
// them; a zero interval picks a round width giving about target buckets. The
// first starts at from truncated to the width, so bars fall on round times.
func Buckets(from, to time.Time, interval time.Duration, target, max int) []time.Time {
	if !from.Before(to) {
		return nil
	}
	span := to.Sub(from)
	if interval <= 0 {
		interval = RoundInterval(span / time.Duration(target))
	}
	if n := span / interval; n >= time.Duration(max) {
		interval = span / time.Duration(max-1)
	}
	var out []time.Time
	for t := from.Truncate(interval); t.Before(to); t = t.Add(interval) {
		out = append(out, t)
	}
	return out
}

// niceIntervals are the widths a histogram rounds up to.
var niceIntervals = []time.Duration{
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// RoundInterval is the smallest round width at least d.
func RoundInterval(d time.Duration) time.Duration {
	for _, n := range niceIntervals {
		if n >= d {
			return n
		}
	}
	return d
}

// BucketEnd is the end of bucket i.
func BucketEnd(buckets []time.Time, i int, to time.Time) time.Time {
	if i+1 < len(buckets) {
		return buckets[i+1]
	}
	return to
}
