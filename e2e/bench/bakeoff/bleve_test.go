package bakeoff

import (
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	bq "github.com/blevesearch/bleve/v2/search/query"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// bleveDynamic is how the embedded index was fed before the index layer:
// Bleve's dynamic mapping over the decoded document, batches of 2 000.
type bleveDynamic struct{ bi bleve.Index }

func openBleveDynamic(dir string) (engine, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer("words", map[string]any{"type": custom.Name, "tokenizer": unicode.Name, "token_filters": []string{lowercase.Name}}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = keyword.Name
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	text := bleve.NewTextFieldMapping()
	text.Analyzer, text.Store, text.DocValues = "words", false, false
	m.DefaultMapping.AddFieldMappingsAt("message", text)
	ts := bleve.NewDateTimeFieldMapping()
	ts.Store, ts.DocValues = false, true
	m.DefaultMapping.AddFieldMappingsAt("@timestamp", ts)
	m.DefaultMapping.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())
	src := bleve.NewTextFieldMapping()
	src.Index, src.Store, src.IncludeInAll, src.DocValues = false, true, false, false
	m.DefaultMapping.AddFieldMappingsAt("_source", src)
	bi, err := bleve.New(filepath.Join(dir, "ix"), m)
	return &bleveDynamic{bi}, err
}

func (e *bleveDynamic) ingest(evs []ev) error {
	batch := e.bi.NewBatch()
	for i, v := range evs {
		var f map[string]any
		if err := json.Unmarshal(v.src, &f); err != nil {
			return err
		}
		f["_source"] = string(v.src)
		if err := batch.Index(v.id, f); err != nil {
			return err
		}
		if batch.Size() == 2000 || i == len(evs)-1 {
			if err := e.bi.Batch(batch); err != nil {
				return err
			}
			batch = e.bi.NewBatch()
		}
	}
	return nil
}

func (e *bleveDynamic) search(q bq.Query, from, to time.Time, buckets bool) (int64, error) {
	inc, exc := true, false
	tr := bleve.NewDateRangeInclusiveQuery(from, to, &inc, &exc)
	tr.SetField("@timestamp")
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(q, tr), 50, 0, false)
	req.Fields = []string{"_source"}
	req.SortBy([]string{"-@timestamp", "-_id"})
	if buckets {
		f := bleve.NewFacetRequest("@timestamp", 60)
		bs := index.Buckets(from, to, 0, 60, 500)
		for i, b := range bs {
			f.AddDateTimeRange(b.String(), b, index.BucketEnd(bs, i, to))
		}
		req.AddFacet("h", f)
	}
	res, err := e.bi.Search(req)
	if err != nil {
		return 0, err
	}
	return int64(res.Total), nil
}

func (e *bleveDynamic) termRangeHistogram(from, to time.Time) (int64, error) {
	v, t := 500.0, true
	q := bleve.NewNumericRangeInclusiveQuery(&v, &v, &t, &t)
	q.SetField("http.response.status_code")
	return e.search(q, from, to, true)
}

func (e *bleveDynamic) needle(w string, from, to time.Time) (int64, error) {
	q := bleve.NewMatchQuery(w)
	q.SetField("message")
	return e.search(q, from, to, false)
}

func (e *bleveDynamic) close() error { return e.bi.Close() }
