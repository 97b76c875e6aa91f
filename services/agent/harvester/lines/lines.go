// Package lines splits a growing file into lines and knows each line's byte
// offsets, which are what the registry stores and what makes event ids
// deterministic. Lines longer than a limit are cut and flagged rather than
// buffered, so one runaway line cannot exhaust the agent's memory.
package lines

import (
	"bytes"
	"io"
	"time"
)

// Line is one line without its trailing newline, "\n" or "\r\n" (Windows and
// many Java apps write CRLF, and a kept "\r" would end every message); bytes
// are otherwise shipped as they are in the file (binary and invalid UTF-8
// included).
type Line struct {
	// Bytes is only valid until the next call on the Reader that returned it.
	Bytes []byte
	// Start is the offset of the line's first byte, End the offset just past its
	// newline (the next line's Start).
	Start, End int64
	// Truncated means the line was longer than the limit and Bytes holds its
	// first bytes only.
	Truncated bool
	// Stream and Time come from a container log's envelope (package
	// envelope): the stream the line was written to and when the engine
	// received it. They are empty for a plain file.
	Stream string
	Time   time.Time
}

// Reader reads lines from src, which is positioned at offset.
type Reader struct {
	src  io.Reader
	max  int
	buf  []byte
	r, w int
	off  int64 // offset of buf[r]

	// A line whose start has been consumed but whose newline has not been seen.
	inPart    bool
	part      []byte
	partStart int64
	partTrunc bool
}

// NewReader reads src (positioned at offset) with a read buffer of bufSize
// bytes, cutting lines longer than max bytes.
func NewReader(src io.Reader, offset int64, max, bufSize int) *Reader {
	return &Reader{src: src, max: max, buf: make([]byte, bufSize), off: offset}
}

// Next returns the next complete line. When src has no more data it returns
// src's error (io.EOF for a file at its end) and keeps the incomplete last line,
// so that a later call continues it once the file has grown.
func (r *Reader) Next() (Line, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			seg := r.buf[r.r : r.r+i]
			start := r.off
			r.r += i + 1
			r.off += int64(i + 1)
			if !r.inPart {
				seg = trimCR(seg)
				ln := Line{Bytes: seg, Start: start, End: r.off}
				if len(seg) > r.max {
					ln.Bytes, ln.Truncated = seg[:r.max], true
				}
				return ln, nil
			}
			r.appendPart(seg)
			if !r.partTrunc {
				r.part = trimCR(r.part) // the "\r" may have come in an earlier read
			}
			ln := Line{Bytes: r.part, Start: r.partStart, End: r.off, Truncated: r.partTrunc}
			r.inPart, r.part, r.partTrunc = false, r.part[:0], false
			return ln, nil
		}
		if r.r < r.w {
			if !r.inPart {
				r.inPart, r.partStart = true, r.off
			}
			r.appendPart(r.buf[r.r:r.w])
			r.off += int64(r.w - r.r)
		}
		r.r, r.w = 0, 0
		n, err := r.src.Read(r.buf)
		// A reader may return data together with io.EOF; the error comes back
		// on the next call, when there is no data left.
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return Line{}, err
		}
		r.w = n
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// appendPart keeps at most max bytes of a line being assembled.
func (r *Reader) appendPart(b []byte) {
	if room := r.max - len(r.part); len(b) > room {
		b, r.partTrunc = b[:max(room, 0)], true
	}
	r.part = append(r.part, b...)
}

// Rest returns the incomplete last line and forgets it: for a file that will
// not grow any more (deleted, or a finished .gz), it is a line too.
func (r *Reader) Rest() (Line, bool) {
	if !r.inPart {
		return Line{}, false
	}
	ln := Line{Bytes: r.part, Start: r.partStart, End: r.off, Truncated: r.partTrunc}
	r.inPart, r.part, r.partTrunc = false, r.part[:0], false
	return ln, true
}

// Pos is the offset of the next byte to read from src: how far into the file
// the reader has looked, complete lines or not.
func (r *Reader) Pos() int64 { return r.off + int64(r.w-r.r) }
