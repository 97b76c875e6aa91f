// Package index is Hindsight's one index layer: how an event (internal/event)
// becomes a searchable document, what its index is called, and what every
// backend can do with it — write documents by event id, idempotently, and
// search them with the query language of services/replay/query, a time
// range, a sort, a page, a histogram and the top values of fields.
//
// Backends: package opensearch (OpenSearch or Elasticsearch; the indexer,
// replays into a cluster, live search in the split deployment) and the
// embedded engine (the all-in-one's live index and the replay "embedded"
// target). Both index the same fields the same way (see Mapping), so a query
// means the same on either, which the conformance suite in tools/test holds.
package index

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// Doc is one event to index.
type Doc struct {
	// ID is the event's deterministic id: writing it again stores it once.
	ID string
	// Index is the index the document goes to (DailyName for live data; a
	// backend writing one index of its own ignores it).
	Index string
	Time  time.Time
	// Source is the event's ECS JSON document, returned by searches as is.
	Source []byte
	// Fields is Source decoded (the replay loader decodes it once to filter
	// it; an embedded backend indexes from it).
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
	// Oldest sorts oldest first (default newest first); ties are broken by
	// event id in the same direction, so pages are stable on every backend.
	Oldest bool
	// Buckets are the histogram's bucket starts, equally spaced, the first
	// at or before From; the last ends at To. None: no histogram.
	Buckets []time.Time
	// Top asks for the most frequent values of these exact fields among the
	// matching events, TopSize of each (default 10).
	Top     []string
	TopSize int
	// TopSample, when above 0, lets a backend count the top values over a
	// sample of about this many matches spread over the range when there
	// are more (Result.TopSample says so), their counts scaled to the total.
	TopSample int
}

// Result is one page of hits.
type Result struct {
	// Hits are ECS JSON documents, in the requested order.
	Hits  [][]byte
	Total int64
	// Counts are the events per bucket of Request.Buckets.
	Counts []int64
	// Top holds, per field of Request.Top, its values by descending count
	// (ties by value).
	Top map[string][]ValueCount
	// TopSample is the matches the top values were counted over when that
	// was a sample (Request.TopSample), their counts then estimates scaled
	// to Total; 0 when every match was counted.
	TopSample int64
}

// ValueCount is one of a field's top values.
type ValueCount struct {
	Value string
	Count int64
}

// Searcher answers searches.
type Searcher interface {
	Search(ctx context.Context, r Request) (*Result, error)
	// Count is the number of events searchable.
	Count(ctx context.Context) (int64, error)
}

// Writer writes documents by id: a document written again is stored once
// (OpenSearch replaces it, the embedded engine keeps the first; an id is
// derived from the event's source, so both are the same event).
type Writer interface {
	// Put writes docs. When it returns nil every doc is durable, though maybe
	// not yet visible to searches. Documents the engine refuses for
	// themselves come back as a *Rejects error (every one of them, whatever
	// retries happened for the others); any other error means some docs may
	// not be written and the call should be repeated.
	Put(ctx context.Context, docs []Doc) error
	// Refresh makes everything put so far visible to searches.
	Refresh(ctx context.Context) error
}

// Index is one set of events that is written and searched.
type Index interface {
	Writer
	Searcher
	// Close releases the index (not its data).
	Close() error
}

// Reject is one document an engine refused for itself (a mapping conflict,
// a document that is not JSON): retrying it cannot help.
type Reject struct {
	ID     string
	Index  string
	Status int
	Reason string
}

// Rejects is the error of a Put some of whose documents were refused.
type Rejects []Reject

func (r Rejects) Error() string {
	if len(r) == 0 {
		return "no documents rejected"
	}
	return fmt.Sprintf("%d documents rejected, first %s: %s", len(r), r[0].ID, r[0].Reason)
}

// LivePattern matches every daily index.
const LivePattern = "logs-*"

// DailyName is the index of a dataset's events of t's date (UTC):
// logs-<dataset>-YYYY.MM.DD, with the dataset lower-cased and the characters
// index names may not hold replaced by "_".
func DailyName(dataset string, t time.Time) string {
	if dataset == "" {
		dataset = "unknown"
	}
	if len(dataset) > 200 {
		dataset = dataset[:200] // index names are limited to 255 bytes
	}
	b := []byte(strings.ToLower(dataset))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return "logs-" + string(b) + t.UTC().Format("-2006.01.02")
}
