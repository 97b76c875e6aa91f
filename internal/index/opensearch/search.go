package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// Index writes one index (or none: read-only) and searches another name
// (an alias or a pattern).
type Index struct {
	c           *Client
	write, read string
	backoff     Backoff
}

// Index is the index named write, searched through read (the same, an
// alias or a pattern); with write empty it is read-only.
func (c *Client) Index(write, read string) *Index { return &Index{c: c, write: write, read: read} }

// Live is the read-only index over every daily index.
func (c *Client) Live() *Index { return c.Index("", index.LivePattern) }

// Put writes docs (see Client.Write).
func (ix *Index) Put(ctx context.Context, docs []index.Doc) error {
	if ix.write == "" {
		return errors.New("live indices are read-only here")
	}
	return ix.c.Write(ctx, ix.write, docs, ix.backoff)
}

// Refresh makes every document put so far searchable.
func (ix *Index) Refresh(ctx context.Context) error {
	_, err := ix.c.api.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{ix.read}})
	return err
}

// Count is the number of documents.
func (ix *Index) Count(ctx context.Context) (int64, error) {
	r, err := ix.c.api.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{ix.read}})
	if err != nil {
		return 0, err
	}
	return int64(r.Count), nil
}

// Close does nothing: the client is shared.
func (ix *Index) Close() error { return nil }

type obj = map[string]any

// Search runs r as one _search: the query, time range and datasets as
// filters, sorted by time then event id, the histogram as a date_histogram
// over the request's buckets, top values as terms aggregations.
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	filter := []any{
		ToDSL(r.Query),
		obj{"range": obj{"@timestamp": obj{"gte": event.FormatTime(r.From), "lt": event.FormatTime(r.To)}}},
	}
	if len(r.Datasets) > 0 {
		filter = append(filter, obj{"terms": obj{"data_stream.dataset": r.Datasets}})
	}
	order := "desc"
	if r.Oldest {
		order = "asc"
	}
	body := obj{
		"query":            obj{"bool": obj{"filter": filter}},
		"from":             r.Offset,
		"size":             r.Size,
		"track_total_hits": true,
		"sort": []any{
			obj{"@timestamp": obj{"order": order}},
			obj{"event.id": obj{"order": order, "unmapped_type": "keyword"}},
		},
	}
	aggs := obj{}
	var interval time.Duration
	if len(r.Buckets) > 0 {
		interval = r.To.Sub(r.Buckets[0])
		if len(r.Buckets) > 1 {
			interval = r.Buckets[1].Sub(r.Buckets[0])
		}
		ms := max(1, interval.Milliseconds())
		aggs["histogram"] = obj{"date_histogram": obj{
			"field":          "@timestamp",
			"fixed_interval": fmt.Sprintf("%dms", ms),
			// Buckets start where the request's do (OpenSearch aligns them
			// to the epoch plus the offset).
			"offset":        fmt.Sprintf("%dms", r.Buckets[0].UnixMilli()%ms),
			"min_doc_count": 1,
		}}
	}
	topSize := r.TopSize
	if topSize <= 0 {
		topSize = 10
	}
	for i, f := range r.Top {
		aggs[fmt.Sprintf("top%d", i)] = obj{"terms": obj{"field": f, "size": topSize, "order": []any{obj{"_count": "desc"}, obj{"_key": "asc"}}}}
	}
	if len(aggs) > 0 {
		body["aggs"] = aggs
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := ix.c.api.Search(ctx, &opensearchapi.SearchReq{
		Indices: []string{ix.read},
		Body:    bytes.NewReader(b),
		Params:  opensearchapi.SearchParams{AllowNoIndices: opensearchapi.ToPointer(true), IgnoreUnavailable: opensearchapi.ToPointer(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", ix.read, err)
	}
	out := &index.Result{Total: int64(resp.Hits.Total.Value)}
	for _, h := range resp.Hits.Hits {
		out.Hits = append(out.Hits, h.Source)
	}
	var got map[string]struct {
		Buckets []struct {
			Key      json.RawMessage `json:"key"`
			KeyStr   string          `json:"key_as_string"`
			DocCount int64           `json:"doc_count"`
		} `json:"buckets"`
	}
	if len(resp.Aggregations) > 0 {
		if err := json.Unmarshal(resp.Aggregations, &got); err != nil {
			return nil, fmt.Errorf("search %s: aggregations: %w", ix.read, err)
		}
	}
	if len(r.Buckets) > 0 {
		out.Counts = make([]int64, len(r.Buckets))
		for _, bk := range got["histogram"].Buckets {
			var key int64
			if err := json.Unmarshal(bk.Key, &key); err != nil {
				return nil, fmt.Errorf("search %s: histogram key %s", ix.read, bk.Key)
			}
			i := int(time.UnixMilli(key).Sub(r.Buckets[0]) / interval)
			if i >= 0 && i < len(out.Counts) {
				out.Counts[i] += bk.DocCount
			}
		}
	}
	if len(r.Top) > 0 {
		out.Top = map[string][]index.ValueCount{}
		for i, f := range r.Top {
			vs := []index.ValueCount{}
			for _, bk := range got[fmt.Sprintf("top%d", i)].Buckets {
				vs = append(vs, index.ValueCount{Value: termKey(bk.Key, bk.KeyStr), Count: bk.DocCount})
			}
			out.Top[f] = vs
		}
	}
	return out, nil
}

// termKey reads a terms bucket's key as the query language spells values.
func termKey(raw json.RawMessage, s string) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return s
	}
	return query.String(v)
}

// ToDSL translates a parsed query into OpenSearch's query DSL; see package
// query for the semantics, which the embedded engine shares.
func ToDSL(n query.Node) any {
	switch n := n.(type) {
	case nil:
		return obj{"match_all": obj{}}
	case query.And:
		return obj{"bool": obj{"filter": dslAll(n.Nodes)}}
	case query.Or:
		return obj{"bool": obj{"should": dslAll(n.Nodes), "minimum_should_match": 1}}
	case query.Not:
		return obj{"bool": obj{"must_not": []any{ToDSL(n.Node)}}}
	case query.Match:
		if n.Field == query.AnyField {
			text, exact := n, n
			text.Field, exact.Field = query.DefaultTextField, query.KeywordsField
			return obj{"bool": obj{"should": []any{matchDSL(text), matchDSL(exact)}, "minimum_should_match": 1}}
		}
		return matchDSL(n)
	case query.Range:
		field := n.Field
		if field == query.AnyField {
			field = query.KeywordsField
		}
		r := obj{}
		if n.Min != "" {
			r[bound(n.IncMin, "gte", "gt")] = n.Min
		}
		if n.Max != "" {
			r[bound(n.IncMax, "lte", "lt")] = n.Max
		}
		return obj{"range": obj{field: r}}
	}
	return obj{"match_none": obj{}}
}

// matchDSL is a match on a text field (every word, or the phrase) or an
// exact field (the whole value; a number field's number).
func matchDSL(m query.Match) any {
	text := query.IsText(m.Field)
	switch {
	case m.Wildcard:
		v := m.Value
		if text {
			v = strings.ToLower(v)
		}
		return obj{"wildcard": obj{m.Field: obj{"value": v}}}
	case m.Phrase && text:
		return obj{"match_phrase": obj{m.Field: m.Value}}
	case text:
		return obj{"match": obj{m.Field: obj{"query": m.Value, "operator": "and"}}}
	}
	// A term query on a number field that cannot hold the value is an
	// error in OpenSearch; lenient makes it match nothing, as everywhere.
	return obj{"match": obj{m.Field: obj{"query": m.Value, "lenient": true}}}
}

func bound(inclusive bool, inc, exc string) string {
	if inclusive {
		return inc
	}
	return exc
}

func dslAll(ns []query.Node) []any {
	out := make([]any, len(ns))
	for i, c := range ns {
		out[i] = ToDSL(c)
	}
	return out
}
