// Package embedded keeps each replay's events in its own Bleve index in a
// directory on local disk: the all-in-one's target, which needs no
// OpenSearch. Every replay gets <dir>/<replay>/, removed with the replay.
//
// Mapping: message is analysed into words (Unicode word boundaries, lower
// case, no stop words, like OpenSearch's standard analyzer), @timestamp is a
// date, every other string is one exact term, numbers are numbers. The ECS
// document itself is stored, not indexed, and returned by searches.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/hindsight-dev/hindsight/services/replay/index"
)

// exactFields are the event model's string fields (see internal/event).
var exactFields = []string{
	"data_stream.type", "data_stream.dataset", "data_stream.namespace", "event.id",
	"log.level", "log.file.path", "host.name", "service.name", "hindsight.file_id",
}

const (
	sourceField  = "_source"
	wordAnalyzer = "words"
)

// Backend opens replay indices under one directory.
type Backend struct {
	dir string

	mu   sync.Mutex
	open map[string]*Index
}

// New returns a backend keeping indices under dir (created if missing).
func New(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded index dir: %w", err)
	}
	return &Backend{dir: dir, open: map[string]*Index{}}, nil
}

// Open opens or creates the replay's index. The same replay opened twice
// shares one handle (Bleve locks its directory).
func (b *Backend) Open(_ context.Context, replay string) (index.Index, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path := filepath.Join(b.dir, replay)
	if ix, ok := b.open[replay]; ok {
		ix.refs++
		return ix, path, nil
	}
	bi, err := bleve.Open(path)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		var m *mapping.IndexMappingImpl
		if m, err = newMapping(); err == nil {
			bi, err = bleve.New(path, m)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("embedded index %s: %w", path, err)
	}
	ix := &Index{b: b, name: replay, bi: bi, refs: 1}
	b.open[replay] = ix
	return ix, path, nil
}

// Drop closes the replay's index if open and removes its directory.
func (b *Backend) Drop(_ context.Context, replay string) error {
	b.mu.Lock()
	if ix, ok := b.open[replay]; ok {
		delete(b.open, replay)
		ix.refs = 0
		_ = ix.bi.Close()
	}
	b.mu.Unlock()
	return os.RemoveAll(filepath.Join(b.dir, replay))
}

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
	// Only the time is sorted on; doc values of every other field would
	// only cost disk.
	m.DocValuesDynamic = false

	text := bleve.NewTextFieldMapping()
	text.Analyzer = wordAnalyzer
	text.Store = false
	text.DocValues = false
	m.DefaultMapping.AddFieldMappingsAt("message", text)

	ts := bleve.NewDateTimeFieldMapping()
	ts.Store = false
	ts.DocValues = true
	m.DefaultMapping.AddFieldMappingsAt("@timestamp", ts)

	// The model's own fields are exact terms without term vectors (only
	// the message needs positions, for phrases); dynamic fields get them.
	for _, f := range exactFields {
		k := bleve.NewKeywordFieldMapping()
		k.Store = false
		k.IncludeTermVectors = false
		k.IncludeInAll = false
		k.DocValues = false
		m.DefaultMapping.AddFieldMappingsAt(f, k)
	}
	// No composite _all field: a clause without a field searches message.
	m.DefaultMapping.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())

	src := bleve.NewTextFieldMapping()
	src.Index = false
	src.Store = true
	src.IncludeInAll = false
	src.DocValues = false
	m.DefaultMapping.AddFieldMappingsAt(sourceField, src)
	return m, nil
}

// Index is one replay's Bleve index.
type Index struct {
	b    *Backend
	name string
	bi   bleve.Index
	refs int
}

// Put indexes docs in one batch; Bleve's scorch persists a batch before
// Batch returns, so a loader may record the docs as done.
func (ix *Index) Put(_ context.Context, docs []index.Doc) error {
	batch := ix.bi.NewBatch()
	for _, d := range docs {
		f := make(map[string]any, len(d.Fields)+1)
		for k, v := range d.Fields {
			f[k] = v
		}
		f[sourceField] = string(d.Source)
		if err := batch.Index(d.ID, f); err != nil {
			return err
		}
	}
	return ix.bi.Batch(batch)
}

// Refresh does nothing: a batch is searchable once Put returns.
func (ix *Index) Refresh(context.Context) error { return nil }

// Count is the number of documents.
func (ix *Index) Count(context.Context) (int64, error) {
	n, err := ix.bi.DocCount()
	return int64(n), err
}

// Close releases this handle; the last one closes the index.
func (ix *Index) Close() error {
	ix.b.mu.Lock()
	defer ix.b.mu.Unlock()
	if ix.refs == 0 {
		return nil // dropped
	}
	if ix.refs--; ix.refs > 0 {
		return nil
	}
	delete(ix.b.open, ix.name)
	return ix.bi.Close()
}
