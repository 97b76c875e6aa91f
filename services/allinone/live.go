package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	indexerapp "github.com/hindsight-dev/hindsight/services/indexer/app"
)

// openLive opens the embedded index of live data: what the indexer puts
// into OpenSearch's daily indices in the split deployment, searched by the
// replay service's live Search. Its days are logstorage's partitions,
// dropped whole past --live-retention or over --live-max-bytes.
func openLive(dir string, opt embedded.Options) (index.Index, error) {
	ix, err := embedded.OpenWith(dir, opt)
	if err != nil {
		return nil, fmt.Errorf("live index in %s: %w", dir, err)
	}
	return ix, nil
}

// liveSink is the indexer app's sink in the all-in-one: it puts records
// into the live index by event id (the record key), in batches within the
// indexer's --indexer.bulk-* bounds, and hands their offsets back for the
// commit only once Put has them on disk. A record redelivered after a
// crash (stored, not yet committed) is found by id and not stored twice.
type liveSink struct {
	ix    index.Index
	batch indexerapp.Batch
	docs  []index.Doc
	bytes int
	marks kafkaconsume.Marks
	since time.Time
}

func newLiveSink(ix index.Index, b indexerapp.Batch) *liveSink {
	return &liveSink{ix: ix, batch: b, marks: kafkaconsume.Marks{}}
}

func (l *liveSink) Add(r *kgo.Record) {
	_, t := kafkaconsume.Place(r)
	id := string(r.Key)
	if id == "" {
		id = fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset)
	}
	if len(l.docs) == 0 {
		l.since = time.Now()
	}
	// No Fields: the embedded index reads the document itself, faster than
	// a decoded map (a value that is not JSON is indexed as its message).
	l.docs = append(l.docs, index.Doc{ID: id, Time: t, Source: r.Value})
	l.bytes += len(r.Value)
	l.marks.Mark(r)
}

func (l *liveSink) Full() bool { return len(l.docs) >= l.batch.Docs || l.bytes >= l.batch.Bytes }

func (l *liveSink) Flush(ctx context.Context, all bool, _ kafkaconsume.Parts) (kafkaconsume.Marks, error) {
	if len(l.docs) == 0 {
		return nil, nil
	}
	if !all && !l.Full() && time.Since(l.since) < l.batch.Interval {
		return nil, nil
	}
	if err := l.ix.Put(ctx, l.docs); err != nil {
		return nil, err
	}
	if err := l.ix.Refresh(ctx); err != nil {
		return nil, err
	}
	m := l.marks
	l.docs, l.bytes, l.marks = nil, 0, kafkaconsume.Marks{}
	return m, nil
}

// Forget drops everything buffered: the partitions' next owner (this
// process, after a restart) consumes the records again.
func (l *liveSink) Forget(kafkaconsume.Parts) {
	l.docs, l.bytes, l.marks = nil, 0, kafkaconsume.Marks{}
}
