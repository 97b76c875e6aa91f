// Package bulk is the indexer's sink: it indexes consumed events into
// OpenSearch (or Elasticsearch) through the index layer's _bulk writer
// (internal/index/opensearch), into the daily indices index.DailyName names,
// with the event id as _id so that indexing a record twice leaves one
// document.
//
// A document is done when OpenSearch stored it or rejected it as malformed
// (status 400) and it was dead-lettered; everything else (429, 5xx, other
// statuses, an unreachable cluster) is retried by the consumer with backoff,
// document by document, while fetching stays paused. Offsets are committed
// only below the first document not done.
package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/index"
	osindex "github.com/hindsight-dev/hindsight/internal/index/opensearch"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
)

// Options tune the bulk requests.
type Options struct {
	// Docs and Bytes bound one bulk request; a batch this big is sent at once.
	Docs  int
	Bytes int
	// Interval is how long a smaller batch waits before it is sent.
	Interval   time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Rejected is a record whose document OpenSearch refused (or that is not a
// JSON document at all), with the reason.
type Rejected struct {
	Record *kgo.Record
	Index  string
	Status int
	Reason string
}

// DeadLetters keeps rejected records somewhere a person can look at them.
type DeadLetters interface {
	Send(ctx context.Context, rs []Rejected) error
}

// NewClient is an OpenSearch client for the list of node URLs. Retries are
// the indexer's own, per document and with backoff while fetching is paused.
func NewClient(urls []string, user, password string) (*osindex.Client, error) {
	return osindex.New(osindex.Config{URLs: urls, User: user, Password: password})
}

type partKey struct {
	topic     string
	partition int32
}

type item struct {
	rec    *kgo.Record
	doc    index.Doc // Source on one line
	reject *Rejected
	done   bool
}

// size is about the item's share of a bulk body (the action line's fixed
// part is ~30 bytes).
func (it *item) size() int { return 32 + len(it.doc.Index) + len(it.doc.ID) + len(it.doc.Source) }

// Indexer is a kafkaconsume.Sink indexing into OpenSearch.
type Indexer struct {
	client *osindex.Client
	dead   DeadLetters
	opt    Options
	m      *metrics

	queue   []*item // not yet done, in consumption order
	bytes   int
	since   time.Time // when the oldest queued record arrived
	retry   bool      // the queue holds documents that failed before
	last    map[partKey]*kgo.Record
	tmplSet bool
}

// New returns an Indexer writing through client and dead-lettering to dead.
func New(client *osindex.Client, dead DeadLetters, opt Options) (*Indexer, error) {
	if opt.Docs <= 0 || opt.Bytes <= 0 || opt.Interval <= 0 {
		return nil, errors.New("indexer: bulk docs, bytes and interval must be positive")
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	return &Indexer{client: client, dead: dead, opt: opt, m: m, last: map[partKey]*kgo.Record{}}, nil
}

// Add queues r's document.
func (ix *Indexer) Add(r *kgo.Record) {
	dataset, t := kafkaconsume.Place(r)
	it := &item{rec: r, doc: index.Doc{ID: documentID(r), Index: index.DailyName(dataset, t), Time: t}}
	var err error
	if it.doc.Source, err = oneLine(r.Value); err != nil {
		it.reject = &Rejected{Record: r, Index: it.doc.Index, Reason: err.Error()}
	}
	if len(ix.queue) == 0 {
		ix.since = time.Now()
	}
	ix.queue = append(ix.queue, it)
	ix.bytes += it.size()
	ix.last[partKey{r.Topic, r.Partition}] = r
}

// Full reports that a whole bulk request is waiting.
func (ix *Indexer) Full() bool { return len(ix.queue) >= ix.opt.Docs || ix.bytes >= ix.opt.Bytes }

// Flush sends the queue when it is due: full, old, holding retries, or all.
// Revocation flushes everything, whichever partitions are revoked.
func (ix *Indexer) Flush(ctx context.Context, all bool, _ kafkaconsume.Parts) (kafkaconsume.Marks, error) {
	if len(ix.queue) == 0 || !(all || ix.retry || ix.Full() || time.Since(ix.since) >= ix.opt.Interval) {
		return ix.marks(), nil
	}
	if err := ix.ensureTemplate(ctx); err != nil {
		ix.retry = true
		return ix.marks(), err
	}
	var err error
	for batch := range ix.batches() {
		if err = ix.send(ctx, batch); err != nil {
			break // the cluster is down or overloaded: stop hammering it
		}
	}
	var rejected []*item
	for _, it := range ix.queue {
		if it.reject != nil {
			rejected = append(rejected, it)
		}
	}
	if len(rejected) > 0 {
		rs := make([]Rejected, len(rejected))
		for i, it := range rejected {
			rs[i] = *it.reject
		}
		if derr := ix.dead.Send(ctx, rs); derr != nil {
			err = errors.Join(err, fmt.Errorf("dead-lettering %d documents: %w", len(rs), derr))
		} else {
			for _, it := range rejected {
				it.done = true
			}
			ix.m.deadLetters.Add(float64(len(rs)))
		}
	}
	kept := ix.queue[:0]
	ix.bytes = 0
	for _, it := range ix.queue {
		if !it.done {
			kept = append(kept, it)
			ix.bytes += it.size()
		}
	}
	clear(ix.queue[len(kept):])
	ix.queue = kept
	ix.retry = len(kept) > 0
	if ix.retry && err == nil {
		err = fmt.Errorf("%d documents to retry", len(kept))
	}
	return ix.marks(), err
}

// batches cuts the documents still to send into bulk requests.
func (ix *Indexer) batches() func(yield func([]*item) bool) {
	return func(yield func([]*item) bool) {
		var batch []*item
		size := 0
		for _, it := range ix.queue {
			if it.reject != nil {
				continue // waits for the dead-letter topic only
			}
			if len(batch) > 0 && (len(batch) >= ix.opt.Docs || size+it.size() > ix.opt.Bytes) {
				if !yield(batch) {
					return
				}
				batch, size = nil, 0
			}
			batch = append(batch, it)
			size += it.size()
		}
		if len(batch) > 0 {
			yield(batch)
		}
	}
}

// send makes one bulk request and settles each of its documents.
func (ix *Indexer) send(ctx context.Context, batch []*item) error {
	docs := make([]index.Doc, len(batch))
	for i, it := range batch {
		docs[i] = it.doc
	}
	start := time.Now()
	results, err := ix.client.Bulk(ctx, "", docs)
	ix.m.bulkSeconds.Observe(time.Since(start).Seconds())
	ix.m.bulkDocs.Add(float64(len(batch)))
	if err != nil {
		ix.m.bulkRequests.WithLabelValues("failed").Inc()
		ix.m.retries.Add(float64(len(batch)))
		return err
	}
	ix.m.bulkRequests.WithLabelValues("ok").Inc()
	for i, r := range results {
		it := batch[i]
		switch r.Outcome {
		case osindex.Stored:
			it.done = true
			ix.m.indexed.Inc()
		case osindex.Rejected:
			it.reject = &Rejected{Record: it.rec, Index: it.doc.Index, Status: r.Status, Reason: r.Reason}
		default:
			ix.m.retries.Inc()
		}
	}
	return nil
}

// ensureTemplate installs the index template once, before the first
// document: an index created without it would map fields by guesswork.
func (ix *Indexer) ensureTemplate(ctx context.Context) error {
	if ix.tmplSet {
		return nil
	}
	if err := ix.client.EnsureTemplate(ctx); err != nil {
		return err
	}
	ix.tmplSet = true
	ix.opt.Log.Info("index template installed", "template", index.TemplateName)
	return nil
}

// marks are, per partition, the offset of its first document not done, or
// the one after its last record when all are done.
func (ix *Indexer) marks() kafkaconsume.Marks {
	marks := kafkaconsume.Marks{}
	first := map[partKey]bool{}
	for _, it := range ix.queue {
		k := partKey{it.rec.Topic, it.rec.Partition}
		if !first[k] {
			first[k] = true
			marks.MarkBefore(it.rec)
		}
	}
	for k, r := range ix.last {
		if !first[k] {
			marks.Mark(r)
		}
	}
	return marks
}

// Forget drops the queued documents of partitions no longer owned.
func (ix *Indexer) Forget(parts kafkaconsume.Parts) {
	kept := ix.queue[:0]
	ix.bytes = 0
	for _, it := range ix.queue {
		if !parts.Has(it.rec.Topic, it.rec.Partition) {
			kept = append(kept, it)
			ix.bytes += it.size()
		}
	}
	clear(ix.queue[len(kept):])
	ix.queue = kept
	for k := range ix.last {
		if parts.Has(k.topic, k.partition) {
			delete(ix.last, k)
		}
	}
}

// documentID is the event id the router puts in the record key. A record
// without one gets an id from its position, which at least makes redelivery
// of that record idempotent.
func documentID(r *kgo.Record) string {
	if len(r.Key) > 0 {
		return string(r.Key)
	}
	return fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset)
}

// oneLine returns doc as the single line a bulk body needs.
func oneLine(doc []byte) ([]byte, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, errors.New("empty document")
	}
	if bytes.IndexByte(doc, '\n') < 0 {
		return doc, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, fmt.Errorf("invalid JSON document: %w", err)
	}
	return buf.Bytes(), nil
}
