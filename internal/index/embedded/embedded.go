// Package embedded is the index layer's embedded engine: an index in a
// directory on local disk, needing no server — the all-in-one's live index
// and the replay service's "embedded" target. It is Bleve (scorch), fed
// documents built here from the one mapping's field classes rather than by
// Bleve's reflection-driven dynamic mapping, so that every field is indexed
// exactly as in OpenSearch (see internal/index.Mappings):
//
//   - message, error.message: Unicode words, lower case, with positions for
//     phrases;
//   - @timestamp: a date with doc values (the sort and the histogram);
//   - every other string, and booleans: one exact term with doc values (top
//     values), also in hindsight.keywords for bare words; values longer than
//     query.MaxKeyword are not indexed;
//   - numbers: numbers;
//   - the ECS document itself: stored, returned by searches.
package embedded

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

const (
	sourceField  = "_source"
	wordAnalyzer = "words"
)

// Index is one embedded index.
type Index struct {
	bi    bleve.Index
	words analysis.Analyzer
	exact analysis.Analyzer
}

var _ index.Index = (*Index)(nil)

// Open opens the index in dir, creating it if missing.
func Open(dir string) (*Index, error) {
	bi, err := bleve.Open(dir)
	if err == bleve.ErrorIndexPathDoesNotExist {
		var m *mapping.IndexMappingImpl
		if m, err = newMapping(); err == nil {
			bi, err = bleve.New(dir, m)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("embedded index %s: %w", dir, err)
	}
	m := bi.Mapping()
	ix := &Index{bi: bi, words: m.AnalyzerNamed(wordAnalyzer), exact: m.AnalyzerNamed(keyword.Name)}
	if ix.words == nil || ix.exact == nil {
		bi.Close()
		return nil, fmt.Errorf("embedded index %s: written by an older version (no %q analyzer): drop it and load it again", dir, wordAnalyzer)
	}
	return ix, nil
}

// newMapping is what searches need to know of fields: the analyzer of text
// fields (match queries analyse their text with it) and that every other
// field is exact. Documents are built by Put, not mapped.
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer(wordAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = keyword.Name
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	for f := range textFieldNames() {
		text := bleve.NewTextFieldMapping()
		text.Analyzer = wordAnalyzer
		// Bleve finds a field's analyzer by walking sub-documents.
		dm := m.DefaultMapping
		path := strings.Split(f, ".")
		for _, p := range path[:len(path)-1] {
			sub := dm.Properties[p]
			if sub == nil {
				sub = bleve.NewDocumentMapping()
				dm.AddSubDocumentMapping(p, sub)
			}
			dm = sub
		}
		dm.AddFieldMappingsAt(path[len(path)-1], text)
	}
	return m, nil
}

func textFieldNames() map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"message", "error.message"} {
		if query.IsText(f) {
			out[f] = true
		}
	}
	return out
}

// Put indexes docs in one batch; scorch persists a batch before Batch
// returns, so a caller may record the docs as done.
func (ix *Index) Put(_ context.Context, docs []index.Doc) error {
	batch := ix.bi.NewBatch()
	for _, d := range docs {
		if err := batch.IndexAdvanced(ix.document(d)); err != nil {
			return err
		}
	}
	return ix.bi.Batch(batch)
}

const (
	textOpts  = bindex.IndexField | bindex.IncludeTermVectors
	exactOpts = bindex.IndexField | bindex.DocValues | bindex.SkipFreqNorm
	// hindsight.keywords is only ever matched, never sorted or counted.
	keywordsOpts = bindex.IndexField | bindex.SkipFreqNorm
)

// document builds the Bleve document of d from its decoded fields.
func (ix *Index) document(d index.Doc) *document.Document {
	doc := document.NewDocument(d.ID)
	ts := d.Time
	if s, ok := d.Fields["@timestamp"].(string); ok {
		if t, err := event.ParseTime(s); err == nil {
			ts = t
		}
	}
	if f, err := document.NewDateTimeFieldWithIndexingOptions("@timestamp", nil, ts, time.RFC3339Nano, bindex.IndexField|bindex.DocValues); err == nil {
		doc.AddField(f)
	}
	ix.add(doc, "", d.Fields)
	for _, k := range query.Keywords(nil, d.Fields) {
		doc.AddField(document.NewTextFieldCustom(query.KeywordsField, nil, []byte(k), keywordsOpts, ix.exact))
	}
	doc.AddField(document.NewTextFieldWithIndexingOptions(sourceField, nil, d.Source, bindex.StoreField))
	return doc
}

func (ix *Index) add(doc *document.Document, name string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if name != "" {
				k = name + "." + k
			}
			ix.add(doc, k, c)
		}
	case []any:
		for _, c := range v {
			ix.add(doc, name, c)
		}
	case string:
		switch {
		case query.IsText(name):
			doc.AddField(document.NewTextFieldCustom(name, nil, []byte(v), textOpts, ix.words))
		case query.IsDate(name):
			if name == "@timestamp" {
				return // indexed from the document's time
			}
			if t, err := event.ParseTime(v); err == nil {
				if f, err := document.NewDateTimeFieldWithIndexingOptions(name, nil, t, time.RFC3339Nano, bindex.IndexField); err == nil {
					doc.AddField(f)
				}
			}
		case name == query.KeywordsField || !query.Indexable(v):
		default:
			doc.AddField(document.NewTextFieldCustom(name, nil, []byte(v), exactOpts, ix.exact))
		}
	case bool:
		doc.AddField(document.NewTextFieldCustom(name, nil, []byte(strconv.FormatBool(v)), exactOpts, ix.exact))
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			doc.AddField(document.NewNumericFieldWithIndexingOptions(numberField(name), nil, v, bindex.IndexField))
		}
	}
}

// numberField is where a field's numbers are indexed: apart from its
// strings, so that a string range never meets Bleve's encoding of numbers
// (in OpenSearch a field is one or the other in each daily index).
func numberField(name string) string { return name + "#number" }

// Refresh does nothing: a batch is searchable once Put returns.
func (ix *Index) Refresh(context.Context) error { return nil }

// Count is the number of documents.
func (ix *Index) Count(context.Context) (int64, error) {
	n, err := ix.bi.DocCount()
	return int64(n), err
}

// Close closes the index.
func (ix *Index) Close() error { return ix.bi.Close() }
