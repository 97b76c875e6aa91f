package kafkaconsume

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Feed is the Sink of a consumer that feeds in-memory aggregates (the live
// graph, event rates): every record goes to its function as it arrives.
// Such aggregates are lost at a restart whatever was committed, so a record
// is done once fed and the next Flush commits it. Nothing is held back: a
// Feed is never full, never fails, and a rebalance leaves nothing to drop.
type Feed struct {
	add   func(*kgo.Record)
	marks Marks
}

// NewFeed hands every record to add.
func NewFeed(add func(*kgo.Record)) *Feed { return &Feed{add: add, marks: Marks{}} }

// Add feeds the record.
func (f *Feed) Add(r *kgo.Record) {
	f.marks.Mark(r)
	f.add(r)
}

// Flush has nothing to store: it hands over the marks of what Add fed.
func (f *Feed) Flush(context.Context, bool, Parts) (Marks, error) {
	m := f.marks
	f.marks = Marks{}
	return m, nil
}

// Full is never: records are fed as they come.
func (f *Feed) Full() bool { return false }

// Forget drops the marks of partitions no longer owned (their records are
// already fed; the next owner may feed them again, a blip the aggregates
// absorb).
func (f *Feed) Forget(parts Parts) {
	for t, ps := range f.marks {
		for p := range ps {
			if parts.Has(t, p) {
				delete(ps, p)
			}
		}
		if len(ps) == 0 {
			delete(f.marks, t)
		}
	}
}
