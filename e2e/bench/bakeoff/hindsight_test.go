package bakeoff

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// hindsightEmbedded is Hindsight's embedded engine as it ships
// (internal/index/embedded: logstorage under the index layer, with its
// columns for the query language, the id lookup and a durable Put), fed
// as the live indexer feeds it: the documents off Kafka, in batches of the
// indexer's 5 000.
type hindsightEmbedded struct{ ix index.Index }

func openHindsightEmbedded(dir string) (engine, error) {
	ix, err := embedded.Open(filepath.Join(dir, "ix"))
	return &hindsightEmbedded{ix}, err
}

const hindsightBatch = 5000

func (e *hindsightEmbedded) ingest(evs []ev) error {
	docs := make([]index.Doc, 0, hindsightBatch)
	for i, v := range evs {
		docs = append(docs, index.Doc{ID: v.id, Time: v.t, Source: v.src})
		if len(docs) == hindsightBatch || i == len(evs)-1 {
			if err := e.ix.Put(context.Background(), docs); err != nil {
				return err
			}
			docs = docs[:0]
		}
	}
	return e.ix.Refresh(context.Background())
}

func (e *hindsightEmbedded) search(q string, from, to time.Time, buckets bool) (int64, error) {
	n, err := query.Parse(q)
	if err != nil {
		return 0, err
	}
	r := index.Request{Query: n, From: from, To: to, Size: 50}
	if buckets {
		r.Buckets = index.Buckets(from, to, 0, 60, 500)
	}
	res, err := e.ix.Search(context.Background(), r)
	if err != nil {
		return 0, err
	}
	return res.Total, nil
}

func (e *hindsightEmbedded) termRangeHistogram(from, to time.Time) (int64, error) {
	return e.search("http.response.status_code:500", from, to, true)
}

func (e *hindsightEmbedded) needle(w string, from, to time.Time) (int64, error) {
	return e.search(w, from, to, false)
}

func (e *hindsightEmbedded) close() error { return e.ix.Close() }
