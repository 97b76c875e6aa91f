package embedded

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

const histogramFacet = "histogram"

// Search runs r: the query, the time range and datasets as filters, sorted by
// time (then id, so pages are stable), with the histogram as a date facet.
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	must := []bq.Query{toBleve(r.Query)}
	inc, exc := true, false
	tr := bleve.NewDateRangeInclusiveQuery(r.From, r.To, &inc, &exc)
	tr.SetField("@timestamp")
	must = append(must, tr)
	if len(r.Datasets) > 0 {
		var ds []bq.Query
		for _, d := range r.Datasets {
			ds = append(ds, term("data_stream.dataset", d))
		}
		must = append(must, bleve.NewDisjunctionQuery(ds...))
	}
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(must...), r.Size, r.Offset, false)
	req.Fields = []string{sourceField}
	if r.Oldest {
		req.SortBy([]string{"@timestamp", "_id"})
	} else {
		req.SortBy([]string{"-@timestamp", "-_id"})
	}
	if len(r.Buckets) > 0 {
		f := bleve.NewFacetRequest("@timestamp", len(r.Buckets))
		for i, b := range r.Buckets {
			f.AddDateTimeRange(strconv.Itoa(i), b, index.BucketEnd(r.Buckets, i, r.To))
		}
		req.AddFacet(histogramFacet, f)
	}
	res, err := ix.bi.SearchInContext(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &index.Result{Total: int64(res.Total)}
	for _, h := range res.Hits {
		s, _ := h.Fields[sourceField].(string)
		out.Hits = append(out.Hits, []byte(s))
	}
	if len(r.Buckets) > 0 {
		out.Counts = make([]int64, len(r.Buckets))
		if f := res.Facets[histogramFacet]; f != nil {
			for _, d := range f.DateRanges {
				if i, err := strconv.Atoi(d.Name); err == nil && i < len(out.Counts) {
					out.Counts[i] = int64(d.Count)
				}
			}
		}
	}
	return out, nil
}

func term(field, value string) bq.Query {
	q := bleve.NewTermQuery(value)
	q.SetField(field)
	return q
}

// toBleve translates a parsed query; see package query for the semantics.
func toBleve(n query.Node) bq.Query {
	switch n := n.(type) {
	case nil:
		return bleve.NewMatchAllQuery()
	case query.And:
		qs := make([]bq.Query, len(n.Nodes))
		for i, c := range n.Nodes {
			qs[i] = toBleve(c)
		}
		return bleve.NewConjunctionQuery(qs...)
	case query.Or:
		qs := make([]bq.Query, len(n.Nodes))
		for i, c := range n.Nodes {
			qs[i] = toBleve(c)
		}
		return bleve.NewDisjunctionQuery(qs...)
	case query.Not:
		return bq.NewBooleanQuery([]bq.Query{bleve.NewMatchAllQuery()}, nil, []bq.Query{toBleve(n.Node)})
	case query.Match:
		return matchToBleve(n)
	case query.Range:
		return rangeToBleve(n)
	}
	return bleve.NewMatchNoneQuery()
}

func matchToBleve(m query.Match) bq.Query {
	text := query.IsText(m.Field)
	switch {
	case m.Wildcard:
		v := m.Value
		if text {
			v = strings.ToLower(v)
		}
		q := bleve.NewWildcardQuery(v)
		q.SetField(m.Field)
		return q
	case text && m.Phrase:
		q := bleve.NewMatchPhraseQuery(m.Value)
		q.SetField(m.Field)
		return q
	case text:
		q := bleve.NewMatchQuery(m.Value)
		q.SetField(m.Field)
		q.SetOperator(bq.MatchQueryOperatorAnd)
		return q
	}
	// Exact fields: a string term, or the number it spells.
	q := term(m.Field, m.Value)
	if f, err := strconv.ParseFloat(m.Value, 64); err == nil {
		t := true
		nq := bleve.NewNumericRangeInclusiveQuery(&f, &f, &t, &t)
		nq.SetField(m.Field)
		return bleve.NewDisjunctionQuery(q, nq)
	}
	return q
}

func rangeToBleve(r query.Range) bq.Query {
	minInc, maxInc := r.IncMin, r.IncMax
	if lo, hi, ok := numbers(r.Min, r.Max); ok {
		q := bleve.NewNumericRangeInclusiveQuery(lo, hi, &minInc, &maxInc)
		q.SetField(r.Field)
		return q
	}
	if lo, hi, ok := times(r.Min, r.Max); ok {
		q := bleve.NewDateRangeInclusiveQuery(lo, hi, &minInc, &maxInc)
		q.SetField(r.Field)
		return q
	}
	q := bleve.NewTermRangeInclusiveQuery(r.Min, r.Max, &minInc, &maxInc)
	q.SetField(r.Field)
	return q
}

func numbers(lo, hi string) (*float64, *float64, bool) {
	var out [2]*float64
	for i, s := range []string{lo, hi} {
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, nil, false
		}
		out[i] = &f
	}
	return out[0], out[1], true
}

func times(lo, hi string) (time.Time, time.Time, bool) {
	var out [2]time.Time
	for i, s := range []string{lo, hi} {
		if s == "" {
			continue
		}
		t, ok := query.ParseTime(s)
		if !ok {
			return time.Time{}, time.Time{}, false
		}
		out[i] = t
	}
	return out[0], out[1], true
}
