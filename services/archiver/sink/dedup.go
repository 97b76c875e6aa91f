package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Deduplication of resent events.
//
// Delivery from the agents is at least once: a router that dies after Kafka
// acknowledged a batch but before it acknowledged the agent makes the agent
// send the batch again, and Kafka then holds the same events twice. OpenSearch
// absorbs that (the event id is the document _id); the archive would keep both
// copies. Every copy of an event has the same record key (its id), hence the
// same partition, and the same dataset and time, hence the same date folder,
// and the copies are close together in the partition (the agent resends
// within its ack timeout). So each partition remembers the ids of its latest
// DedupWindow archived events and drops an event whose id it holds. A new
// owner of the partition (after a restart or a rebalance) first reads back the
// ids of the objects the previous owners wrote in the last DedupWindow offsets
// of each date folder it writes to, so a resend that straddles a restart is
// dropped too.

// DefaultDedupWindow is the default of Options.DedupWindow: at 1 000 events/s
// per partition, over three minutes (agents resend within their ack timeout,
// two minutes by default, and within seconds of a router's death), for about
// 20 MB per partition.
const DefaultDedupWindow = 200_000

// folderDay is a date folder of a dataset.
type folderDay struct {
	folder string
	day    int64 // Unix seconds of midnight UTC
}

// window is a set of the last n ids added.
type window struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newWindow(n int) *window {
	if n <= 0 {
		return &window{}
	}
	return &window{set: make(map[string]struct{}), ring: make([]string, 0, min(n, 1<<16)), next: 0}
}

func (w *window) has(id string) bool {
	_, ok := w.set[id]
	return ok
}

// add remembers id, forgetting the oldest one when the window is full.
func (w *window) add(id string, capacity int) {
	if capacity <= 0 || w.has(id) {
		return
	}
	if len(w.ring) < capacity {
		w.ring = append(w.ring, id)
	} else {
		delete(w.set, w.ring[w.next])
		w.ring[w.next] = id
		w.next = (w.next + 1) % capacity
	}
	w.set[id] = struct{}{}
}

// seed reads into p's window the ids of the objects of k's partition in the
// folder fd that previous owners wrote within the window before p.resumeAt.
func (w *Writer) seed(ctx context.Context, k partKey, p *partition, fd folderDay) error {
	start := time.Now()
	objs, err := w.store.Day(ctx, fd.folder, time.Unix(fd.day, 0).UTC())
	if err != nil {
		return err
	}
	from := p.resumeAt - int64(w.opt.DedupWindow)
	n := 0
	for _, o := range objs {
		if o.Topic != k.topic || o.Partition != k.partition || o.LastOffset < from || o.FirstOffset >= p.resumeAt {
			continue
		}
		r, err := w.store.Read(ctx, o.Path())
		if err != nil {
			return err
		}
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				return fmt.Errorf("archiver: reading back %s: %w", o.Path(), err)
			}
			var doc struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			}
			if json.Unmarshal(b, &doc) == nil && doc.Event.ID != "" {
				p.seen.add(doc.Event.ID, w.opt.DedupWindow)
				n++
			}
		}
		r.Close()
	}
	p.seeded[fd] = true
	if n > 0 {
		w.opt.Log.Info("read back recent event ids to drop resent events", "topic", k.topic, "partition", k.partition,
			"folder", fd.folder, "day", time.Unix(fd.day, 0).UTC().Format(time.DateOnly), "ids", n, "took", time.Since(start))
	}
	return nil
}
