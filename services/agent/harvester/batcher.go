package harvester

import (
	"context"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/shipper"
)

// batcher gathers the lines of one input's files into batches and hands them
// to the input's shipper. Adding blocks while the shipper's window is full:
// that is what pauses reading when the router does not keep up.
type batcher struct {
	dataset  string
	host     string // of the lines' sources
	labels   map[string]string
	maxLines int
	maxBytes int
	linger   time.Duration
	ship     *shipper.Shipper
	dirty    func()

	mu    sync.Mutex
	cur   *openBatch
	timer *time.Timer
	ctx   context.Context // for sends started by the linger timer
}

type openBatch struct {
	msg    *routingv1.Batch
	lines  int
	stream string
	bytes  int
	files  []*fileState // with spans and blocks, parallel
	spans  []*span
	blocks []*routingv1.LineBlock // each file's latest block
}

// shipLine is what the batcher takes of a line: its bytes (copied into the
// batch), where it starts in its file, when it was read, and the file's
// path and file_time when it was read.
type shipLine struct {
	bytes     []byte
	start     int64
	readTime  time.Time
	truncated bool
	path      string
	fileTime  *timestamppb.Timestamp
}

// lineOverhead approximates a line's encoding in its block around its
// bytes (end, offset, read time), blockOverhead a block's around its
// source strings.
const (
	lineOverhead  = 24
	blockOverhead = 48
)

func (b *batcher) start(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctx = ctx
	b.timer = time.AfterFunc(time.Hour, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.cur != nil {
			_ = b.sendLocked(b.ctx) // on failure (shutdown) the batch stays for flush
		}
	})
	b.timer.Stop()
}

// StreamLabel carries the stream (stdout, stderr) of a container's lines.
const StreamLabel = "stream"

// setLabels makes the next batches carry labels.
func (b *batcher) setLabels(labels map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !maps.Equal(b.labels, labels) {
		b.labels = labels
	}
}

// add appends a line of st ending at end, written to stream (empty for a
// plain file). Labels are per batch, so a line of another stream than the
// batch's sends the batch first. It fails only when ctx is done, and the
// line then stays unacknowledged (read again after a restart).
func (b *batcher) add(ctx context.Context, st *fileState, l shipLine, end int64, stream string) error {
	size := len(l.bytes) + lineOverhead + blockOverhead + len(l.path) + len(st.id) + len(b.host)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil && (b.cur.bytes+size > b.maxBytes || b.cur.stream != stream) {
		if err := b.sendLocked(ctx); err != nil {
			return err
		}
	}
	if b.cur == nil {
		labels := b.labels
		if stream != "" {
			labels = maps.Clone(labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[StreamLabel] = stream
		}
		b.cur = &openBatch{msg: &routingv1.Batch{Dataset: b.dataset, Labels: labels}, stream: stream}
		b.timer.Reset(b.linger)
	}
	c := b.cur
	st.mu.Lock()
	i := c.fileOf(st)
	if i < 0 {
		sp := &span{end: end}
		st.spans = append(st.spans, sp)
		c.files = append(c.files, st)
		c.spans = append(c.spans, sp)
		c.blocks = append(c.blocks, nil)
		i = len(c.files) - 1
	}
	c.spans[i].end = end
	st.next = end
	st.mu.Unlock()
	// A file renamed (or its date found) within a batch starts a block.
	if bl := c.blocks[i]; bl == nil || bl.Source.FilePath != l.path || bl.FileTime != l.fileTime {
		c.blocks[i] = lineblock.New(&eventv1.Source{Host: b.host, FilePath: l.path, FileId: st.id}, l.fileTime)
		c.msg.Blocks = append(c.msg.Blocks, c.blocks[i])
	} else {
		size -= blockOverhead + len(l.path) + len(st.id) + len(b.host)
	}
	lineblock.Append(c.blocks[i], l.bytes, l.start, l.readTime, l.truncated)
	c.bytes += size
	c.lines++
	if c.lines >= b.maxLines {
		return b.sendLocked(ctx)
	}
	return nil
}

// skip accounts for a filtered-out event of st ending at end: it is
// acknowledged with the batch holding st's previous line, or at once.
func (b *batcher) skip(st *fileState, end int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if b.cur != nil {
		if i := b.cur.fileOf(st); i >= 0 {
			b.cur.spans[i].end, st.next = end, end
			return
		}
	}
	st.skipTo(end)
	b.dirty()
}

// fileOf is st's index in the batch's files, or -1; the batch has few
// files, often one.
func (c *openBatch) fileOf(st *fileState) int {
	for i, f := range c.files {
		if f == st {
			return i
		}
	}
	return -1
}

// flush sends the batch being filled, if any.
func (b *batcher) flush(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer.Stop()
	if b.cur == nil {
		return nil
	}
	return b.sendLocked(ctx)
}

// sendLocked hands the current batch to the shipper; b.mu must be held.
func (b *batcher) sendLocked(ctx context.Context) error {
	c := b.cur
	err := b.ship.Send(ctx, &shipper.Batch{Msg: c.msg, Acked: func() {
		for i, st := range c.files {
			st.mu.Lock()
			c.spans[i].acked = true
			st.advance()
			st.mu.Unlock()
		}
		b.dirty()
	}})
	if err != nil {
		return err
	}
	b.cur = nil
	b.timer.Stop()
	return nil
}
