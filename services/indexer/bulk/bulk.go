// Package bulk is the indexer's sink: it indexes consumed events into
// OpenSearch (or Elasticsearch) with the _bulk API, into daily indices
// logs-<dataset>-YYYY.MM.DD, with the event id as _id so that indexing a
// record twice leaves one document.
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
	"net/http"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

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

// NewClient is an OpenSearch client for the comma-free list of node URLs.
func NewClient(urls []string, user, password string) (*opensearchapi.Client, error) {
	return opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{
		Addresses: urls,
		Username:  user,
		Password:  password,
		// Retries are the indexer's own, per document and with backoff while
		// fetching is paused; quick client retries would only delay that.
		// With several nodes, each new request goes to the next one.
		DisableRetry: true,
		// A hung request holds the consumer loop; bound it well within the
		// group's rebalance timeout.
		RequestTimeout: 30 * time.Second,
	}})
}

type partKey struct {
	topic     string
	partition int32
}

type item struct {
	rec    *kgo.Record
	index  string
	action []byte // the bulk action line, newline included
	doc    []byte // the document on one line
	reject *Rejected
	done   bool
}

func (it *item) size() int { return len(it.action) + len(it.doc) + 1 }

// Indexer is a kafkaconsume.Sink indexing into OpenSearch.
type Indexer struct {
	client *opensearchapi.Client
	dead   DeadLetters
	opt    Options
	m      *metrics

	queue   []*item // not yet done, in consumption order
	bytes   int
	since   time.Time // when the oldest queued record arrived
	retry   bool      // the queue holds documents that failed before
	last    map[partKey]*kgo.Record
	buf     bytes.Buffer
	tmplSet bool
}

// New returns an Indexer writing through client and dead-lettering to dead.
func New(client *opensearchapi.Client, dead DeadLetters, opt Options) (*Indexer, error) {
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
	it := &item{rec: r, index: IndexName(dataset, t)}
	it.action = appendAction(make([]byte, 0, 64+len(it.index)), it.index, documentID(r))
	var err error
	if it.doc, err = oneLine(r.Value); err != nil {
		it.reject = &Rejected{Record: r, Index: it.index, Reason: err.Error()}
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
	body := ix.body(batch)
	start := time.Now()
	resp, err := ix.client.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body)})
	ix.m.bulkSeconds.Observe(time.Since(start).Seconds())
	ix.m.bulkDocs.Add(float64(len(batch)))
	// Per-document results come with status 200, even when the client also
	// reports partial failures as an error.
	if resp != nil && len(resp.Items) == len(batch) {
		ix.m.bulkRequests.WithLabelValues("ok").Inc()
		for i, res := range resp.Items {
			for _, r := range res {
				ix.settle(batch[i], r)
			}
		}
		return nil
	}
	ix.m.bulkRequests.WithLabelValues("failed").Inc()
	ix.m.retries.Add(float64(len(batch)))
	status := 0
	if resp != nil && resp.Inspect().Response != nil {
		status = resp.Inspect().Response.StatusCode
	}
	if err == nil {
		err = fmt.Errorf("%d results for %d documents", len(resp.Items), len(batch))
	}
	return fmt.Errorf("bulk request (status %d): %w", status, err)
}

// settle records one document's bulk result.
func (ix *Indexer) settle(it *item, r opensearchapi.BulkRespItem) {
	switch {
	case r.Status >= 200 && r.Status < 300:
		it.done = true
		ix.m.indexed.Inc()
	case r.Status == http.StatusBadRequest:
		// The document itself is wrong (mapping conflict, unparsable
		// field): retrying cannot help.
		reason := "rejected"
		if e := r.Error; e != nil {
			reason = e.Type + ": " + e.Reason
			if e.Cause.Type != "" {
				reason += " (caused by " + e.Cause.Type + ": " + e.Cause.Reason + ")"
			}
		}
		it.reject = &Rejected{Record: it.rec, Index: it.index, Status: r.Status, Reason: reason}
	default:
		// 429 and 5xx are the cluster's trouble; anything else (a missing
		// index with auto-creation off, a permission) is its configuration
		// — none is the document's fault, so none is dead-lettered.
		ix.m.retries.Inc()
	}
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

// body is the _bulk request body for batch (valid until the next call).
func (ix *Indexer) body(batch []*item) []byte {
	ix.buf.Reset()
	for _, it := range batch {
		ix.buf.Write(it.action)
		ix.buf.Write(it.doc)
		ix.buf.WriteByte('\n')
	}
	return ix.buf.Bytes()
}

// IndexName is the daily index of a dataset's events of t's date (UTC):
// logs-<dataset>-YYYY.MM.DD, with the dataset lower-cased and characters
// index names may not hold replaced by "_".
func IndexName(dataset string, t time.Time) string {
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

// documentID is the event id the router puts in the record key. A record
// without one gets an id from its position, which at least makes redelivery
// of that record idempotent.
func documentID(r *kgo.Record) string {
	if len(r.Key) > 0 {
		return string(r.Key)
	}
	return fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset)
}

func appendAction(b []byte, index, id string) []byte {
	b = append(b, `{"index":{"_index":"`...)
	b = append(b, index...) // safe by construction
	b = append(b, `","_id":`...)
	if plain(id) {
		b = append(b, '"')
		b = append(b, id...)
		b = append(b, '"')
	} else {
		q, _ := json.Marshal(id)
		b = append(b, q...)
	}
	return append(b, "}}\n"...)
}

// plain reports whether s needs no JSON escaping (event ids are hex).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
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
