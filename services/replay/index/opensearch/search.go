package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

type obj = map[string]any

// Search runs r as one _search: the query, time range and datasets as
// filters, sorted by time then event id, the histogram as a date_range
// aggregation over the same buckets the embedded index uses.
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	filter := []any{
		toDSL(r.Query),
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
	var interval time.Duration
	if len(r.Buckets) > 0 {
		interval = r.To.Sub(r.Buckets[0])
		if len(r.Buckets) > 1 {
			interval = r.Buckets[1].Sub(r.Buckets[0])
		}
		body["aggs"] = obj{"histogram": obj{"date_histogram": obj{
			"field":          "@timestamp",
			"fixed_interval": fmt.Sprintf("%dms", max(1, interval.Milliseconds())),
			// Buckets start where the request's do (OpenSearch aligns them
			// to the epoch plus the offset).
			"offset":        fmt.Sprintf("%dms", r.Buckets[0].UnixMilli()%max(1, interval.Milliseconds())),
			"min_doc_count": 1,
		}}}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := ix.c.Search(ctx, &opensearchapi.SearchReq{
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
	if len(r.Buckets) > 0 {
		out.Counts = make([]int64, len(r.Buckets))
		var aggs struct {
			Histogram struct {
				Buckets []struct {
					Key      int64 `json:"key"`
					DocCount int64 `json:"doc_count"`
				} `json:"buckets"`
			} `json:"histogram"`
		}
		if len(resp.Aggregations) > 0 {
			if err := json.Unmarshal(resp.Aggregations, &aggs); err != nil {
				return nil, fmt.Errorf("search %s: aggregations: %w", ix.read, err)
			}
		}
		for _, bk := range aggs.Histogram.Buckets {
			i := int(time.UnixMilli(bk.Key).Sub(r.Buckets[0]) / interval)
			if i >= 0 && i < len(out.Counts) {
				out.Counts[i] += bk.DocCount
			}
		}
	}
	return out, nil
}

// toDSL translates a parsed query; see package query for the semantics. A
// match query on an exact (keyword or numeric) field is a term query there,
// on message it requires every word.
func toDSL(n query.Node) any {
	switch n := n.(type) {
	case nil:
		return obj{"match_all": obj{}}
	case query.And:
		return obj{"bool": obj{"filter": dslAll(n.Nodes)}}
	case query.Or:
		return obj{"bool": obj{"should": dslAll(n.Nodes), "minimum_should_match": 1}}
	case query.Not:
		return obj{"bool": obj{"must_not": []any{toDSL(n.Node)}}}
	case query.Match:
		switch {
		case n.Wildcard:
			v := n.Value
			if query.IsText(n.Field) {
				v = strings.ToLower(v)
			}
			return obj{"wildcard": obj{n.Field: obj{"value": v}}}
		case n.Phrase && query.IsText(n.Field):
			return obj{"match_phrase": obj{n.Field: n.Value}}
		}
		return obj{"match": obj{n.Field: obj{"query": n.Value, "operator": "and"}}}
	case query.Range:
		r := obj{}
		if n.Min != "" {
			r[bound(n.IncMin, "gte", "gt")] = n.Min
		}
		if n.Max != "" {
			r[bound(n.IncMax, "lte", "lt")] = n.Max
		}
		return obj{"range": obj{n.Field: r}}
	}
	return obj{"match_none": obj{}}
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
		out[i] = toDSL(c)
	}
	return out
}
