package harvester

import (
	"sync"
	"time"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
)

// fileState is what the harvester knows of one file content (one
// fingerprint), across renames, reopenings and restarts.
//
// Offsets: lines are handed to batches in file order, and each batch covers a
// contiguous span of each of its files. Batches are acknowledged in any
// order; the acknowledged offset advances to the end of the last span such
// that it and every span before it are acknowledged. So the registry never
// claims a line the router has not committed, whatever the ack order.
type fileState struct {
	mu    sync.Mutex
	id    string
	input string
	path  string
	dev   uint64
	ino   uint64
	gz    bool
	// next is where reading continues: the end of the last line handed to a
	// batch (or filtered out). Bytes after it are re-read by the next reader.
	next int64
	// acked is the end of the contiguously acknowledged lines (persisted).
	acked int64
	// spans handed to batches and not yet all acknowledged, in file order.
	spans []*span
	// reading: a reader has the file open.
	reading bool
	// eof: a .gz file was read to its end; done: and all of it acknowledged.
	eof, done bool
	// failedSize is the size of a .gz file that ended early (still being
	// written); it is retried once its size changes.
	failedSize int64
	lastSeen   time.Time
}

type span struct {
	end   int64
	acked bool
}

func newFileState(e offsets.Entry, now time.Time) *fileState {
	return &fileState{id: e.ID, input: e.Input, path: e.Path, dev: e.Dev, ino: e.Ino,
		next: e.Offset, acked: e.Offset, done: e.Done, eof: e.Done, failedSize: -1, lastSeen: now}
}

// entry is the registry's view of st; st.mu must be held.
func (st *fileState) entry() offsets.Entry {
	return offsets.Entry{ID: st.id, Input: st.input, Path: st.path, Offset: st.acked, Dev: st.dev, Ino: st.ino, Done: st.done}
}

// advance moves acked past the acknowledged prefix of spans; st.mu must be
// held. It reports whether acked moved.
func (st *fileState) advance() bool {
	moved := false
	for len(st.spans) > 0 && st.spans[0].acked {
		st.acked = st.spans[0].end
		st.spans[0] = nil
		st.spans = st.spans[1:]
		moved = true
	}
	if len(st.spans) == 0 && st.eof && st.acked == st.next && !st.done {
		st.done = true
		moved = true
	}
	return moved
}

// skipTo accounts for filtered-out lines ending at end that belong to no
// open batch; st.mu must be held.
func (st *fileState) skipTo(end int64) {
	st.next = end
	if len(st.spans) == 0 {
		st.acked = end
		return
	}
	st.spans = append(st.spans, &span{end: end, acked: true})
}

// idle reports whether nothing of st is being read or awaiting an ack.
func (st *fileState) idle() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !st.reading && len(st.spans) == 0
}
