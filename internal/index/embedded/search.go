package embedded

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

const histogramFacet = "histogram"

// Search runs r: the query, the time range and datasets as filters, sorted by
// time (then id, so pages are stable), the histogram as a date facet and top
// values as term facets.
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	return search(ctx, ix.bi, r)
}

// search runs r on one index or an alias of several (Bleve merges their
// sorted hits and facets).
func search(ctx context.Context, bi bleve.Index, r index.Request) (*index.Result, error) {
	must := []bq.Query{ToBleve(r.Query)}
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
	req.Score = "none"
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
	topSize := r.TopSize
	if topSize <= 0 {
		topSize = 10
	}
	for i, f := range r.Top {
		// More than asked, so ties at the cut are ordered by value and,
		// over several daily indices, a value outside one index's top is
		// still counted (OpenSearch's shard_size, for the same reason).
		req.AddFacet("top"+strconv.Itoa(i), bleve.NewFacetRequest(f, topSize*4+50))
	}
	res, err := bi.SearchInContext(ctx, req)
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
	if len(r.Top) > 0 {
		out.Top = map[string][]index.ValueCount{}
		for i, f := range r.Top {
			vs := []index.ValueCount{}
			if fr := res.Facets["top"+strconv.Itoa(i)]; fr != nil && fr.Terms != nil {
				for _, t := range fr.Terms.Terms() {
					vs = append(vs, index.ValueCount{Value: t.Term, Count: int64(t.Count)})
				}
			}
			sort.Slice(vs, func(i, j int) bool {
				if vs[i].Count != vs[j].Count {
					return vs[i].Count > vs[j].Count
				}
				return vs[i].Value < vs[j].Value
			})
			out.Top[f] = vs[:min(len(vs), topSize)]
		}
	}
	return out, nil
}

func term(field, value string) bq.Query {
	q := bleve.NewTermQuery(value)
	q.SetField(field)
	return q
}

// ToBleve translates a parsed query; see package query for the semantics,
// which OpenSearch shares.
func ToBleve(n query.Node) bq.Query {
	switch n := n.(type) {
	case nil:
		return bleve.NewMatchAllQuery()
	case query.And:
		qs := make([]bq.Query, len(n.Nodes))
		for i, c := range n.Nodes {
			qs[i] = ToBleve(c)
		}
		return bleve.NewConjunctionQuery(qs...)
	case query.Or:
		qs := make([]bq.Query, len(n.Nodes))
		for i, c := range n.Nodes {
			qs[i] = ToBleve(c)
		}
		return bleve.NewDisjunctionQuery(qs...)
	case query.Not:
		return bq.NewBooleanQuery([]bq.Query{bleve.NewMatchAllQuery()}, nil, []bq.Query{ToBleve(n.Node)})
	case query.Match:
		if n.Field == query.AnyField {
			text, exact := n, n
			text.Field, exact.Field = query.DefaultTextField, query.KeywordsField
			return bleve.NewDisjunctionQuery(matchToBleve(text), matchToBleve(exact))
		}
		return matchToBleve(n)
	case query.Range:
		if n.Field == query.AnyField {
			n.Field = query.KeywordsField
		}
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
	if f, err := strconv.ParseFloat(m.Value, 64); err == nil && m.Field != query.KeywordsField {
		t := true
		nq := bleve.NewNumericRangeInclusiveQuery(&f, &f, &t, &t)
		nq.SetField(numberField(m.Field))
		return bleve.NewDisjunctionQuery(q, nq)
	}
	return q
}

// rangeToBleve: dates compare as times; other fields as strings, and also
// as numbers when both bounds are (a field is numbers in some documents and
// strings in others, as in OpenSearch's daily indices).
func rangeToBleve(r query.Range) bq.Query {
	minInc, maxInc := r.IncMin, r.IncMax
	if query.IsDate(r.Field) {
		lo, hi, ok := times(r.Min, r.Max)
		if !ok {
			return bleve.NewMatchNoneQuery()
		}
		q := bleve.NewDateRangeInclusiveQuery(lo, hi, &minInc, &maxInc)
		q.SetField(r.Field)
		return q
	}
	// An empty bound is an open one.
	tq := bleve.NewTermRangeInclusiveQuery(r.Min, r.Max, &minInc, &maxInc)
	tq.SetField(r.Field)
	if nlo, nhi, ok := numbers(r.Min, r.Max); ok && r.Field != query.KeywordsField {
		nq := bleve.NewNumericRangeInclusiveQuery(nlo, nhi, &minInc, &maxInc)
		nq.SetField(numberField(r.Field))
		return bleve.NewDisjunctionQuery(tq, nq)
	}
	return tq
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

func times(lo, hi string) (lot, hit time.Time, ok bool) {
	var out [2]time.Time
	for i, s := range []string{lo, hi} {
		if s == "" {
			continue
		}
		t, ok := query.ParseTime(s)
		if !ok {
			return lot, hit, false
		}
		out[i] = t
	}
	return out[0], out[1], true
}
