// Package envelope decodes the envelope a container engine wraps around each
// line a container writes: Docker's json-file log driver
// ({"log":"GET /\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"})
// and the CRI log format of containerd and CRI-O
// (2024-05-01T10:00:00.123456789Z stdout F GET /). Both cut long lines into
// partial entries (Docker at 16 KiB, marked by a log without its newline;
// CRI by the tag P); a Decoder joins them back and keeps the byte range of
// the physical lines, so that offsets, and so event ids, stay exact.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
)

// Format is the envelope of a file's lines.
type Format int

const (
	// None: a line is the message.
	None Format = iota
	// Docker is the json-file log driver's format.
	Docker
	// CRI is the Container Runtime Interface's log format.
	CRI
	// Auto is Docker or CRI, told apart per line (a JSON object is Docker's).
	Auto
)

// ParseFormat reads a format's configuration name.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "":
		return None, nil
	case "docker":
		return Docker, nil
	case "cri":
		return CRI, nil
	case "container":
		return Auto, nil
	}
	return None, fmt.Errorf("%q: one of docker, cri, container (either), or empty for none", s)
}

// Entry is one decoded physical line.
type Entry struct {
	// Message is what the container wrote, without the line's "\n" or
	// "\r\n"; it may share memory with the decoded line.
	Message []byte
	// Stream is "stdout" or "stderr".
	Stream string
	// Time is when the engine received the line.
	Time time.Time
	// Partial means the line goes on in the next entry of the same stream.
	Partial bool
}

// ErrEnvelope is wrapped by every decoding error.
var ErrEnvelope = errors.New("not a container log line")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEnvelope, fmt.Sprintf(format, args...))
}

// Decode decodes one physical line (without its newline) in format f.
func Decode(f Format, line []byte) (Entry, error) {
	e, _, err := decode(f, line, nil)
	return e, err
}

// decode is Decode with a buffer for the message, returned grown.
func decode(f Format, line, buf []byte) (Entry, []byte, error) {
	switch {
	case f == Docker, f == Auto && len(line) > 0 && line[0] == '{':
		if e, buf, ok := decodeDockerFast(line, buf); ok {
			return e, buf, nil
		}
		e, err := decodeDocker(line)
		return e, buf, err
	case f == CRI, f == Auto:
		e, err := decodeCRI(line)
		return e, buf, err
	}
	return Entry{}, buf, bad("no envelope format")
}

// dockerLine is a line of the json-file driver (moby's jsonlog.JSONLog).
type dockerLine struct {
	Log    *string   `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func decodeDocker(line []byte) (Entry, error) {
	var d dockerLine
	if err := json.Unmarshal(line, &d); err != nil {
		return Entry{}, bad("json-file: %v", err)
	}
	if d.Log == nil {
		return Entry{}, bad(`json-file: no "log"`)
	}
	if d.Time.IsZero() {
		return Entry{}, bad(`json-file: no "time"`)
	}
	e := Entry{Message: []byte(*d.Log), Time: d.Time}
	var err error
	if e.Stream, err = stream(d.Stream); err != nil {
		return Entry{}, err
	}
	if m, ok := bytes.CutSuffix(e.Message, []byte{'\n'}); ok {
		e.Message = trimCR(m)
	} else {
		e.Partial = true
	}
	return e, nil
}

// The json-file driver writes its lines in one layout (moby's jsonlog):
// {"log":"...","stream":"stdout","time":"..."}, attrs before time when the
// daemon adds labels to logs.
var (
	dockerLog    = []byte(`{"log":"`)
	dockerStream = []byte(`,"stream":"`)
	dockerTime   = []byte(`,"time":`)
)

// decodeDockerFast reads that layout without reflection, a quarter of
// encoding/json's cost (BenchmarkDecoder). Anything else (attrs, another
// order, spaces, invalid UTF-8, surrogate escapes) is not ok, and
// decodeDocker reads it; FuzzFastDocker holds the two to one meaning. The
// message is a slice of line unless it has escapes, then of buf.
func decodeDockerFast(line, buf []byte) (Entry, []byte, bool) {
	rest, ok := bytes.CutPrefix(line, dockerLog)
	if !ok {
		return Entry{}, buf, false
	}
	msg, rest, buf, ok := jsonString(rest, buf)
	if !ok {
		return Entry{}, buf, false
	}
	if rest, ok = bytes.CutPrefix(rest, dockerStream); !ok {
		return Entry{}, buf, false
	}
	var e Entry
	switch {
	case bytes.HasPrefix(rest, []byte(`stdout"`)):
		e.Stream = "stdout"
	case bytes.HasPrefix(rest, []byte(`stderr"`)):
		e.Stream = "stderr"
	default:
		return Entry{}, buf, false
	}
	rest = rest[len(`stdout"`):]
	if rest, ok = bytes.CutPrefix(rest, dockerTime); !ok {
		return Entry{}, buf, false
	}
	ts, ok := bytes.CutSuffix(rest, []byte{'}'})
	// The time as encoding/json reads a time.Time: quoted, strict RFC 3339.
	if !ok || len(ts) < 2 || ts[0] != '"' || bytes.IndexByte(ts[1:], '"') != len(ts)-2 || e.Time.UnmarshalJSON(ts) != nil || e.Time.IsZero() {
		return Entry{}, buf, false
	}
	if m, ok := bytes.CutSuffix(msg, []byte{'\n'}); ok {
		msg = trimCR(m)
	} else {
		e.Partial = true
	}
	e.Message = msg
	return e, buf, true
}

// jsonString reads a JSON string's content up to its closing quote; ok is
// false where encoding/json might read it otherwise (see decodeDockerFast).
func jsonString(b, buf []byte) (s, rest, grown []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 && b[i] < utf8.RuneSelf {
		i++
	}
	if i < len(b) && b[i] == '"' {
		return b[:i], b[i+1:], buf, true // no escapes, ASCII: no copy
	}
	buf = append(buf[:0], b[:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return buf, b[i+1:], buf, true
		case c < 0x20:
			return nil, nil, buf, false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, nil, buf, false
			}
			buf = append(buf, b[i:i+n]...)
			i += n
			continue
		case c != '\\':
			buf = append(buf, c)
		case i+1 >= len(b):
			return nil, nil, buf, false
		default:
			i++
			switch b[i] {
			case '"', '\\', '/':
				buf = append(buf, b[i])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if i+4 >= len(b) {
					return nil, nil, buf, false
				}
				r, err := strconv.ParseUint(string(b[i+1:i+5]), 16, 16)
				if err != nil || utf16.IsSurrogate(rune(r)) {
					return nil, nil, buf, false
				}
				buf = utf8.AppendRune(buf, rune(r))
				i += 4
			default:
				return nil, nil, buf, false
			}
		}
		i++
	}
	return nil, nil, buf, false
}

// decodeCRI reads "<RFC 3339 time> <stream> <tags> <message>", where the
// first of the ':'-separated tags is P (partial) or F (full).
func decodeCRI(line []byte) (Entry, error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return Entry{}, bad("cri: no stream after the time")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Entry{}, bad("cri: time %.40q", ts)
	}
	st, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Entry{}, bad("cri: no tag after the stream")
	}
	e := Entry{Time: t}
	if e.Stream, err = stream(string(st)); err != nil {
		return Entry{}, err
	}
	tags, msg, _ := bytes.Cut(rest, []byte{' '}) // an empty message may lack its space
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(tag) {
	case "F":
		msg = trimCR(msg)
	case "P":
		e.Partial = true
	default:
		return Entry{}, bad("cri: tag %.20q is neither P nor F", tag)
	}
	e.Message = msg
	return e, nil
}

func stream(s string) (string, error) {
	switch s {
	case "stdout":
		return "stdout", nil
	case "stderr":
		return "stderr", nil
	}
	return "", bad("stream %.20q is neither stdout nor stderr", s)
}

func trimCR(b []byte) []byte {
	b, _ = bytes.CutSuffix(b, []byte{'\r'})
	return b
}

// Decoder turns the physical lines of one file into the lines the container
// wrote: envelopes decoded, partial entries of a stream joined. It is not
// safe for concurrent use.
type Decoder struct {
	f   Format
	max int
	// join is the line being joined from partial entries, pending says
	// there is one; its byte range and metadata are in part.
	join    []byte
	part    lines.Line
	pending bool
	msg     []byte // an unescaped message
	out     [2]lines.Line
}

// NewDecoder decodes format f, cutting joined lines longer than max bytes.
func NewDecoder(f Format, max int) *Decoder { return &Decoder{f: f, max: max} }

// Add takes the next physical line and returns the lines it completes: none
// (a partial entry, kept), one, or two (a partial line cut short by a line
// of the other stream or an undecodable one, then that line). A line that
// does not decode is returned as it is, with its error. The lines' Bytes
// are valid until the next call.
func (d *Decoder) Add(ln lines.Line) ([]lines.Line, error) {
	e, msg, err := decode(d.f, ln.Bytes, d.msg)
	d.msg = msg
	out := d.out[:0]
	if err != nil {
		if p, ok := d.Flush(); ok {
			out = append(out, p)
		}
		return append(out, ln), err
	}
	if d.pending && d.part.Stream != e.Stream {
		p, _ := d.Flush()
		out = append(out, p)
	}
	if !d.pending {
		if !e.Partial { // the common case: a whole line, no copy
			ln.Bytes, ln.Stream, ln.Time = e.Message, e.Stream, e.Time
			if len(ln.Bytes) > d.max {
				ln.Bytes, ln.Truncated = ln.Bytes[:d.max], true
			}
			return append(out, ln), nil
		}
		d.pending, d.join = true, d.join[:0]
		d.part = lines.Line{Start: ln.Start, Stream: e.Stream, Time: e.Time}
	}
	d.part.End = ln.End
	d.part.Truncated = d.part.Truncated || ln.Truncated
	if room := d.max - len(d.join); len(e.Message) > room {
		e.Message, d.part.Truncated = e.Message[:max(room, 0)], true
	}
	d.join = append(d.join, e.Message...)
	if e.Partial {
		return out, nil
	}
	d.pending = false
	p := d.part
	p.Bytes = d.join
	if !p.Truncated {
		p.Bytes = trimCR(p.Bytes) // the "\r" of "\r\n" may end the previous entry
	}
	return append(out, p), nil
}

// Flush returns the line being joined, if any, as it is: for a file that
// ends with a partial entry (the container stopped mid-line) or when no
// entry has continued it for a while.
func (d *Decoder) Flush() (lines.Line, bool) {
	if !d.pending {
		return lines.Line{}, false
	}
	d.pending = false
	p := d.part
	p.Bytes = d.join
	return p, true
}

// Pending reports whether a line is being joined.
func (d *Decoder) Pending() bool { return d.pending }
