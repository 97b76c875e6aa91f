// Package multiline joins physical lines into events: a line matching the start
// pattern begins an event and every following line that does not match belongs
// to it (stack traces, pretty-printed JSON). An event keeps the offset of its
// first line and ends where its last line ends, so offsets stay exact.
package multiline

import (
	"regexp"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
)

// Aggregator assembles events; it is not safe for concurrent use.
type Aggregator struct {
	start *regexp.Regexp
	max   int
	// Two buffers: the event returned by Add stays valid while the next one
	// is being assembled in the other.
	cur, prev []byte
	ev        lines.Line
	have      bool
}

// New joins lines on start, cutting events longer than max bytes.
func New(start *regexp.Regexp, max int) *Aggregator {
	return &Aggregator{start: start, max: max}
}

// Add takes the next line. When it starts a new event, the previous event is
// complete and returned; its Bytes are valid until the next call to Add.
func (a *Aggregator) Add(ln lines.Line) (lines.Line, bool) {
	if a.have && !a.start.Match(ln.Bytes) {
		a.cur = a.appendCut(a.cur, newline)
		a.cur = a.appendCut(a.cur, ln.Bytes)
		a.ev.End = ln.End
		a.ev.Truncated = a.ev.Truncated || ln.Truncated
		return lines.Line{}, false
	}
	// A line matching the start, or the first line of all (continuation lines
	// at the top of a file form an event of their own).
	done, ok := a.Flush()
	a.prev, a.cur = a.cur, a.prev[:0]
	a.ev = lines.Line{Start: ln.Start, End: ln.End, Truncated: ln.Truncated, Stream: ln.Stream, Time: ln.Time}
	a.cur = a.appendCut(a.cur, ln.Bytes)
	a.have = true
	return done, ok
}

var newline = []byte{'\n'}

func (a *Aggregator) appendCut(dst, b []byte) []byte {
	if room := a.max - len(dst); len(b) > room {
		a.ev.Truncated = true
		b = b[:max(room, 0)]
	}
	return append(dst, b...)
}

// Flush returns the event being assembled, if any, and starts afresh: at the
// end of a file, or when no line has come for the flush timeout.
func (a *Aggregator) Flush() (lines.Line, bool) {
	if !a.have {
		return lines.Line{}, false
	}
	ev := a.ev
	ev.Bytes = a.cur
	a.have = false
	a.ev = lines.Line{}
	return ev, true
}

// Pending reports whether an event is being assembled.
func (a *Aggregator) Pending() bool { return a.have }
