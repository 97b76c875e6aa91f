// Package parse turns one raw log line into an event: its message, its own
// time (@timestamp), level, service and the fields it carries, named as in the
// Elastic Common Schema where a name exists. The router parses every line it
// receives with the parser of the line's dataset; the replay service parses
// legacy archives of raw lines with the same parsers.
//
// Parsing never loses a line. A line that does not match its format is kept
// whole (message = the line) and tagged TagParseFailure, with the reason in
// the field error.message; invalid UTF-8 is replaced and tagged
// TagInvalidUTF8; a line the agent cut is tagged TagTruncated; and a line
// without a usable time gets the time it was read (or received) and
// TagTimestampFallback.
//
// Formats (routingv1.Parser_Format):
//
//   - raw: the line is the message; a timestamp at its start is recognised.
//   - json: one object per line; nested objects become dotted field names.
//   - logfmt: key=value pairs, values kept as strings.
//   - combined: the nginx/Apache combined access log, and the common log
//     format (combined without referrer and user agent).
//   - syslog RFC 3164 (BSD, also as written to files without <PRI>) and
//     RFC 5424.
//   - regex: Go regexps (RE2) with named groups and grok references
//     %{NAME:field:type} to Logstash's core patterns (see Patterns and
//     grok.go) or the dataset's pattern_definitions; pattern and patterns
//     are tried in order, the first match wins. A multiline event needs
//     (?s) for . to cross newlines. Patterns are bounded (MaxPatternLen,
//     MaxExpandedLen) so that a configuration cannot stall the router.
//
// Event times are read with the dataset's layouts, tried in order (Go,
// strftime or Joda forms, or UNIX/UNIX_MS/UNIX_US/UNIX_NS; see layout.go),
// or by recognising the common shapes when none is configured.
//
// A dataset may expect a container runtime's envelope (Docker json-file or
// CRI) around each line: it is removed first, its stream becomes
// log.iostream and its time the fallback time (see envelope.go).
//
// For json, logfmt and regex, well-known keys become the event's own fields
// (a preset names a known writer's keys, message_field, level_field and
// service_field name them explicitly, see keys.go); by default
// message/msg/log/fields.message → message, level/lvl/severity/log.level/loglevel → level,
// service/service.name/app → service, host/hostname/host.name →
// host.hostname, and the first of timestamp_field (default "@timestamp",
// "timestamp", "time", "ts") that holds a time → @timestamp. Any other key
// that would collide with a field the event model writes itself (say
// "event.id" or a scalar "log") is kept under the format's name, e.g.
// "json.event.id".
//
// A Parser is safe for concurrent use.
package parse

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	// Time zones must resolve in FROM-scratch images, which have no zoneinfo.
	_ "time/tzdata"

	"github.com/hindsight-dev/hindsight/internal/event"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Tags the parser adds to an event's tags.
const (
	TagParseFailure      = "_parse_failure"
	TagTimestampFallback = "_timestamp_fallback"
	TagInvalidUTF8       = "_invalid_utf8"
	TagTruncated         = "_truncated"
)

// Input is one raw line and what the caller knows about it.
type Input struct {
	// Line is the line without its trailing newline.
	Line []byte
	// ReadTime is when the line was read. It is the event time of a line
	// without one, and the reference for times without a year (syslog): the
	// replay service passes the date of the archive file here.
	ReadTime time.Time
	// Ingested is when the line was received; it stands in for a zero
	// ReadTime. When both are zero the parser uses the current time.
	Ingested time.Time
	// Truncated says the line was cut by the agent's size limit.
	Truncated bool
	// FileTime is the date of the file the line is from (a date in its path,
	// else its modification time), when known: the reference for times
	// without a year instead of ReadTime, so that a file of 2019 back-filled
	// today is stamped 2019.
	FileTime time.Time
}

// ConfigError says which field of a routingv1.Parser is invalid.
type ConfigError struct {
	// Field is the proto field name: "format", "pattern",
	// "timestamp_layout" or "timezone".
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Parser parses the lines of one dataset.
type Parser struct {
	parse func(p *Parser, s string, ref time.Time, r *record) error
	times timeParser
	// keys are where the keyed formats (json, logfmt, regex) find the
	// message, level, service, host and time.
	keys  keyMap
	regex []*pattern
	// extra names the words after the user agent of the combined format.
	extra []*group
	// envelope is the container runtime's wrapping removed before parsing.
	envelope routingv1.Parser_Envelope
	// steps are the processor stage (Process).
	steps []step
	// hint is the usual number of fields of the format's lines.
	hint int
}

// New builds the parser a dataset's configuration describes. A nil config is
// the raw parser. Errors are *ConfigError.
func New(c *routingv1.Parser) (*Parser, error) {
	format := c.GetFormat()
	keys, err := keysOf(c)
	if err != nil {
		return nil, err
	}
	p := &Parser{keys: keys, envelope: c.GetEnvelope()}
	if _, ok := routingv1.Parser_Envelope_name[int32(p.envelope)]; !ok {
		return nil, &ConfigError{"envelope", fmt.Errorf("unknown envelope %d", p.envelope)}
	}
	if p.extra, err = extraFieldsOf(c.GetExtraFields()); err != nil {
		return nil, err
	}
	if p.steps, err = stepsOf(c.GetProcessors()); err != nil {
		return nil, err
	}
	if len(p.extra) > 0 && format != routingv1.Parser_FORMAT_COMBINED {
		return nil, &ConfigError{"extra_fields", errors.New("only the combined format takes extra_fields")}
	}
	loc := time.UTC
	if tz := c.GetTimezone(); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, &ConfigError{"timezone", fmt.Errorf("unknown time zone %q", tz)}
		}
		loc = l
	}
	layouts, err := layoutsOf(c.GetTimestampLayout(), c.GetTimestampLayouts())
	if err != nil {
		return nil, err
	}
	p.times = timeParser{layouts: layouts, loc: loc}
	if format != routingv1.Parser_FORMAT_REGEX {
		switch {
		case c.GetPattern() != "":
			return nil, &ConfigError{"pattern", errors.New("only the regex format takes a pattern")}
		case len(c.GetPatterns()) > 0:
			return nil, &ConfigError{"patterns", errors.New("only the regex format takes patterns")}
		case len(c.GetPatternDefinitions()) > 0:
			return nil, &ConfigError{"pattern_definitions", errors.New("only the regex format takes pattern definitions")}
		}
	}
	switch format {
	case routingv1.Parser_FORMAT_UNSPECIFIED:
		p.parse = parseRaw
	case routingv1.Parser_FORMAT_JSON:
		p.parse = parseJSON
	case routingv1.Parser_FORMAT_LOGFMT:
		p.parse = parseLogfmt
	case routingv1.Parser_FORMAT_COMBINED:
		p.parse, p.hint = parseCombined, 8
	case routingv1.Parser_FORMAT_SYSLOG_RFC3164:
		p.parse, p.hint = parseRFC3164, 8
	case routingv1.Parser_FORMAT_SYSLOG_RFC5424:
		p.parse, p.hint = parseRFC5424, 12
	case routingv1.Parser_FORMAT_REGEX:
		re, err := compilePatterns(c)
		if err != nil {
			return nil, err
		}
		p.regex = re
		p.parse = parseRegex
	default:
		return nil, &ConfigError{"format", fmt.Errorf("unknown format %d", format)}
	}
	return p, nil
}

// Parse parses one line. It sets the event's message, timestamp, level,
// service, fields and tags; the caller sets the rest (id, dataset, source,
// labels, ingest time). It never fails: see the package comment.
func (p *Parser) Parse(in Input) *eventv1.Event {
	in.Line = bytes.Clone(in.Line) // the event's strings are views of it
	e, fields := p.ParseInto(in, new(Scratch))
	e.Fields = fields.Struct()
	return e
}

// Scratch is the memory of one line's event, used again for the next line:
// the router parses a batch's lines one after another into one Scratch,
// writing each document before it parses the next line, and a handful of
// allocations per line (the event, its values, its field list, the line's
// copy) were a fifth of its time and most of its garbage collection.
type Scratch struct {
	e    eventv1.Event
	ts   timestamppb.Timestamp
	r    record
	tags []string
}

// ParseInto is Parse with the event's fields handed over as a sorted list,
// e.Fields left nil, both held in sc and valid until the next ParseInto
// with sc. The event's strings are views of in.Line, which must not change
// until then either. The router writes most lines' documents straight from
// the list (event.AppendDocument), and builds the map only for the datasets
// whose routes or processors read fields.
func (p *Parser) ParseInto(in Input, sc *Scratch) (*eventv1.Event, event.Fields) {
	tags := sc.tags[:0]
	if in.Truncated {
		tags = append(tags, TagTruncated)
	}
	b := in.Line
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte(string(utf8.RuneError)))
		tags = append(tags, TagInvalidUTF8)
	}
	s := view(b)
	ref := in.ReadTime
	if ref.IsZero() {
		ref = in.Ingested
	}
	if ref.IsZero() {
		ref = time.Now()
	}

	var stream string
	if p.envelope != routingv1.Parser_ENVELOPE_NONE {
		if env, ok := unwrap(p.envelope, s); ok {
			s, stream = env.line, env.stream
			if validTime(env.time) {
				ref = env.time // the runtime's clock beats the agent's read time
			}
			if env.partial {
				tags = append(tags, TagPartial)
			}
		}
	}
	yearRef := ref
	if !in.FileTime.IsZero() {
		yearRef = in.FileTime
	}
	r := &sc.r
	r.reset(p.hint)
	if err := p.parse(p, s, yearRef, r); err != nil {
		// Keep the time if the format read it before failing.
		t := r.time
		r.reset(0)
		_ = parseRaw(p, s, yearRef, r)
		if r.time.IsZero() {
			r.time = t
		}
		r.set("error.message", structpb.NewStringValue(err.Error()))
		tags = append(tags, TagParseFailure)
	}
	if r.message == "" {
		r.message = s
	}
	if stream != "" {
		r.setString("log.iostream", stream)
	}
	ts := r.time
	if !validTime(ts) {
		ts = ref
		tags = append(tags, TagTimestampFallback)
	}
	sc.tags = tags
	sc.ts = timestamppb.Timestamp{Seconds: ts.Unix(), Nanos: int32(ts.Nanosecond())}
	sc.e = eventv1.Event{Timestamp: &sc.ts, Message: r.message, Level: r.level, Service: r.service}
	if len(tags) > 0 {
		sc.e.Tags = tags
	}
	return &sc.e, event.SortFields(r.fields)
}

// Failed reports whether e was kept raw because its line did not parse.
func Failed(e *eventv1.Event) bool {
	for _, t := range e.GetTags() {
		if t == TagParseFailure {
			return true
		}
	}
	return false
}

// parseRaw is the raw format, and what every other format falls back to: the
// line is the message, and a timestamp at its start is its time.
func parseRaw(p *Parser, s string, ref time.Time, r *record) error {
	r.message = s
	if t, ok := p.times.leading(s, ref); ok {
		r.time = t
	}
	return nil
}
