// Package lineblock packs lines of one file into a routingv1.LineBlock, as
// the agent ships them, and unpacks a batch's blocks into RawLines for the
// router: one protobuf message for many lines rather than a RawLine, a
// Source and a Timestamp for each (encoding and decoding those messages was
// most of what shipping a line cost the agent and the router).
package lineblock

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// New is an empty block of the file src names (its offset is not read),
// with the lines' file_time.
func New(src *eventv1.Source, fileTime *timestamppb.Timestamp) *routingv1.LineBlock {
	return &routingv1.LineBlock{Source: src, FileTime: fileTime}
}

// Append adds a line at offset of the block's file, read at readTime. A
// block's data stays far below the 4 GiB its 32-bit ends can address: a
// batch is smaller than a gRPC message.
func Append(bl *routingv1.LineBlock, line []byte, offset int64, readTime time.Time, truncated bool) {
	if truncated {
		bl.Truncated = append(bl.Truncated, uint32(len(bl.Ends)))
	}
	bl.Data = append(bl.Data, line...)
	bl.Ends = append(bl.Ends, uint32(len(bl.Data)))
	bl.Offsets = append(bl.Offsets, offset)
	bl.ReadTimeNanos = append(bl.ReadTimeNanos, readTime.UnixNano())
}

// Count is how many lines b holds, in lines and in blocks.
func Count(b *routingv1.Batch) int {
	n := len(b.GetLines())
	for _, bl := range b.GetBlocks() {
		n += len(bl.GetEnds())
	}
	return n
}

// Check adds to v what is wrong with the blocks of b, whose fields are
// named under at ("" or "batch.").
func Check(v *badrequest.Violations, b *routingv1.Batch, at string) {
	for i, bl := range b.GetBlocks() {
		name := fmt.Sprintf("%sblocks[%d].", at, i)
		n := len(bl.GetEnds())
		if src := bl.GetSource(); src.GetHost() == "" && src.GetFileId() == "" {
			v.Add(name+"source", "required: host or file_id identify the lines")
		}
		if len(bl.GetOffsets()) != n {
			v.Add(name+"offsets", "want one per line (%d); got %d", n, len(bl.GetOffsets()))
		}
		if t := len(bl.GetReadTimeNanos()); t != 0 && t != n {
			v.Add(name+"read_time_nanos", "want one per line (%d) or none; got %d", n, t)
		}
		prev := uint32(0)
		for j, end := range bl.GetEnds() {
			if end < prev || int64(end) > int64(len(bl.GetData())) {
				v.Add(fmt.Sprintf("%sends[%d]", name, j), "must not decrease and be at most len(data) %d; got %d after %d", len(bl.GetData()), end, prev)
				break
			}
			prev = end
		}
		last := -1
		for j, t := range bl.GetTruncated() {
			if int(t) <= last || int(t) >= n {
				v.Add(fmt.Sprintf("%struncated[%d]", name, j), "line indexes must ascend and be below %d; got %d", n, t)
				break
			}
			last = int(t)
		}
	}
}

// Lines are b's lines, then its blocks' lines in order, as RawLines; those
// of blocks share the blocks' bytes and are made a few allocations for the
// batch rather than several per line. b must have passed Check.
func Lines(b *routingv1.Batch) []*routingv1.RawLine {
	if len(b.GetBlocks()) == 0 {
		return b.GetLines()
	}
	n := Count(b)
	out := make([]*routingv1.RawLine, 0, n)
	out = append(out, b.GetLines()...)
	m := n - len(b.GetLines())
	raws := make([]routingv1.RawLine, m)
	srcs := make([]eventv1.Source, m)
	times := make([]timestamppb.Timestamp, m)
	k := 0
	for _, bl := range b.GetBlocks() {
		src, data, reads, cut := bl.GetSource(), bl.GetData(), bl.GetReadTimeNanos(), bl.GetTruncated()
		start := uint32(0)
		for i, end := range bl.GetEnds() {
			r, s := &raws[k], &srcs[k]
			s.Host, s.FilePath, s.FileId, s.Offset = src.GetHost(), src.GetFilePath(), src.GetFileId(), bl.GetOffsets()[i]
			r.Source, r.Line, r.FileTime = s, data[start:end:end], bl.GetFileTime()
			if len(reads) > 0 {
				t := time.Unix(0, reads[i])
				times[k].Seconds, times[k].Nanos = t.Unix(), int32(t.Nanosecond())
				r.ReadTime = &times[k]
			}
			if len(cut) > 0 && cut[0] == uint32(i) {
				r.Truncated, cut = true, cut[1:]
			}
			out = append(out, r)
			start = end
			k++
		}
	}
	return out
}
