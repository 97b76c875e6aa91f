// Package sink is the archiver's sink: it buffers consumed records per
// Kafka partition and flushes each buffer into archive objects, one per
// dataset and event date, when it is big enough or old enough.
package sink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/archive"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
)

// Options tune when buffers are flushed.
type Options struct {
	// FlushBytes flushes a partition's buffer once its documents reach this
	// size (uncompressed).
	FlushBytes int
	// FlushInterval flushes a partition's buffer once its oldest record has
	// waited this long.
	FlushInterval time.Duration
	// DedupWindow is how many of a partition's latest events (by record key,
	// the event id) are remembered to drop an event sent again (default
	// DefaultDedupWindow; negative: off). See dedup.go.
	DedupWindow int
	Log         *slog.Logger
	Registerer  prometheus.Registerer
}

// bufferedLimit is how many FlushBytes all buffers may hold together before
// everything is flushed (and fetching pauses if that fails): many partitions
// each below FlushBytes must not exhaust memory.
const bufferedLimit = 4

type partKey struct {
	topic     string
	partition int32
}

type partition struct {
	recs  []*kgo.Record
	bytes int
	since time.Time // when the oldest buffered record arrived
	// resumeAt is the first offset consumed since the partition was
	// assigned; until recovered, the journal may hold flushes from before.
	resumeAt  int64
	recovered bool
	// unconfirmed are flushes written but not yet committed.
	unconfirmed []archive.Intent
	// failed is a flush that failed part-way; it is discarded before the
	// buffer (which may have grown since) is flushed again.
	failed *archive.Intent
	// seen are the partition's latest archived event ids; seeded holds the
	// date folders whose earlier objects were read into it (see dedup.go).
	seen   *window
	seeded map[folderDay]bool
}

// Writer is a kafkaconsume.Sink writing to an archive.
type Writer struct {
	store *archive.Store
	opt   Options
	parts map[partKey]*partition
	total int
	m     *metrics
}

// New returns a Writer on store.
func New(store *archive.Store, opt Options) (*Writer, error) {
	if opt.FlushBytes <= 0 || opt.FlushInterval <= 0 {
		return nil, errors.New("archiver: flush size and interval must be positive")
	}
	if opt.DedupWindow == 0 {
		opt.DedupWindow = DefaultDedupWindow
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	return &Writer{store: store, opt: opt, parts: map[partKey]*partition{}, m: m}, nil
}

// Add buffers r.
func (w *Writer) Add(r *kgo.Record) {
	k := partKey{r.Topic, r.Partition}
	p := w.parts[k]
	if p == nil {
		p = &partition{resumeAt: r.Offset, seen: newWindow(w.opt.DedupWindow), seeded: map[folderDay]bool{}}
		w.parts[k] = p
	}
	if len(p.recs) == 0 {
		p.since = time.Now()
	}
	p.recs = append(p.recs, r)
	p.bytes += len(r.Value)
	w.total += len(r.Value)
	w.m.buffered.Set(float64(w.total))
}

// Full reports that the buffers together reached their limit.
func (w *Writer) Full() bool { return w.total >= bufferedLimit*w.opt.FlushBytes }

// Flush writes the due buffers (all selected ones if all is set).
//
// A buffer that reached FlushBytes is cut where it first reaches it, so the
// objects a partition is cut into depend only on its records, not on how
// fetches happened to batch them: a re-run from the same offset writes the
// same object names. Flushes by age or at revocation cut where time falls;
// the journal (see archive.Intent) covers those.
func (w *Writer) Flush(ctx context.Context, all bool, parts kafkaconsume.Parts) (kafkaconsume.Marks, error) {
	marks := kafkaconsume.Marks{}
	full := w.Full()
	var errs []error
	for k, p := range w.parts {
		if !parts.Has(k.topic, k.partition) {
			continue
		}
		for len(p.recs) > 0 {
			n := w.cut(p)
			if n == 0 {
				if !all && !full && time.Since(p.since) < w.opt.FlushInterval {
					break
				}
				n = len(p.recs)
			}
			if err := w.flush(ctx, k, p, p.recs[:n]); err != nil {
				errs = append(errs, err)
				break
			}
			marks.Mark(p.recs[n-1])
			for _, r := range p.recs[:n] {
				p.bytes -= len(r.Value)
				w.total -= len(r.Value)
			}
			// The rest arrived later than the oldest record just written;
			// counting its age from now delays it by at most FlushInterval.
			clear(p.recs[:n])
			p.recs, p.since = p.recs[n:], time.Now()
		}
		if len(p.recs) == 0 {
			p.recs = nil // let the flushed records go
		}
	}
	w.m.buffered.Set(float64(w.total))
	return marks, errors.Join(errs...)
}

// cut is how many records from the front of p's buffer first reach
// FlushBytes, or 0 if the buffer does not.
func (w *Writer) cut(p *partition) int {
	if p.bytes < w.opt.FlushBytes {
		return 0
	}
	size := 0
	for i, r := range p.recs {
		if size += len(r.Value); size >= w.opt.FlushBytes {
			return i + 1
		}
	}
	return len(p.recs)
}

// flush writes recs, the front of p's buffer: journal, then one object per
// dataset and day.
func (w *Writer) flush(ctx context.Context, k partKey, p *partition, recs []*kgo.Record) error {
	start := time.Now()
	if !p.recovered {
		removed, err := w.store.Recover(ctx, k.topic, k.partition, p.resumeAt)
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			w.m.removed.Add(float64(len(removed)))
			w.opt.Log.Info("removed the objects of an uncommitted flush; their records are archived again",
				"topic", k.topic, "partition", k.partition, "objects", len(removed), "resume_at", p.resumeAt)
		}
		p.recovered = true
	}
	if p.failed != nil {
		if err := w.store.Discard(ctx, *p.failed); err != nil {
			return err
		}
		p.failed = nil
	}

	type group struct {
		key  archive.Key
		docs []archive.Doc
	}
	var groups []*group
	byKey := map[folderDay]*group{}
	// Events sent twice (an agent resends a batch the router produced but
	// could not acknowledge) are written once: the ids of this flush join
	// the window only once it is written, so a failed flush retries whole.
	var fresh []string
	inFlush := map[string]bool{}
	dups := 0
	for _, r := range recs {
		dataset, t := kafkaconsume.Place(r)
		// Datasets are grouped by folder: two names that map to the same
		// folder must share an object, not overwrite each other's.
		gk := folderDay{archive.Folder(dataset), archive.Midnight(t).Unix()}
		if id := string(r.Key); w.opt.DedupWindow > 0 && id != "" {
			if !p.seeded[gk] {
				if err := w.seed(ctx, k, p, gk); err != nil {
					return err
				}
			}
			if inFlush[id] || p.seen.has(id) {
				dups++
				continue
			}
			inFlush[id] = true
			fresh = append(fresh, id)
		}
		g := byKey[gk]
		if g == nil {
			g = &group{key: archive.Key{
				Dataset: archive.Folder(dataset), Day: archive.Midnight(t),
				Topic: k.topic, Partition: k.partition, FirstOffset: r.Offset,
			}}
			byKey[gk] = g
			groups = append(groups, g)
		}
		g.key.LastOffset = r.Offset
		g.docs = append(g.docs, archive.Doc{Time: t, JSON: r.Value})
	}
	in := archive.Intent{Topic: k.topic, Partition: k.partition, FirstOffset: recs[0].Offset, LastOffset: recs[len(recs)-1].Offset}
	for _, g := range groups {
		in.Objects = append(in.Objects, g.key)
	}
	if err := w.store.BeginFlush(ctx, in); err != nil {
		return err
	}
	for _, g := range groups {
		o, err := w.store.Write(ctx, g.key, g.docs)
		if err != nil {
			p.failed = &in
			return err
		}
		w.m.objects.Inc()
		w.m.bytes.Add(float64(o.Bytes))
		w.m.events.Add(float64(o.Events))
	}
	p.unconfirmed = append(p.unconfirmed, in)
	for _, id := range fresh {
		p.seen.add(id, w.opt.DedupWindow)
	}
	w.m.duplicates.Add(float64(dups))
	w.m.flushSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// Committed forgets the journal of flushes whose offsets are now committed.
func (w *Writer) Committed(ctx context.Context, marks kafkaconsume.Marks) {
	for topic, ps := range marks {
		for part, o := range ps {
			p := w.parts[partKey{topic, part}]
			if p == nil {
				continue
			}
			kept := p.unconfirmed[:0]
			for _, f := range p.unconfirmed {
				if f.LastOffset >= o.Offset {
					kept = append(kept, f)
					continue
				}
				// A journal entry left behind is settled by the partition's
				// next Recover as committed: nothing is lost by failing here.
				if err := w.store.EndFlush(ctx, f); err != nil {
					w.opt.Log.Warn("forgetting a committed flush failed", "topic", topic, "partition", part, "err", err)
				}
			}
			p.unconfirmed = kept
		}
	}
}

// Forget drops the buffers of partitions no longer owned.
func (w *Writer) Forget(parts kafkaconsume.Parts) {
	for k, p := range w.parts {
		if parts.Has(k.topic, k.partition) {
			w.total -= p.bytes
			delete(w.parts, k)
		}
	}
	w.m.buffered.Set(float64(w.total))
}
