// Package event is the one place that knows how an event looks outside of Go:
// its deterministic id, and its ECS JSON document — the form Kafka records
// carry, archives store (one per line) and OpenSearch indexes. Kibana and
// OpenSearch Dashboards read these documents unchanged.
package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

// Kafka record headers set by the router, so consumers can place a record
// (daily index, date folder) without decoding its JSON value.
const (
	// HeaderDataset carries data_stream.dataset.
	HeaderDataset = "hindsight.dataset"
	// HeaderTime carries @timestamp as RFC 3339 with nanoseconds, in UTC.
	HeaderTime = "hindsight.time"
)

// TimeLayout is how @timestamp and event.ingested are written.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// ID is the deterministic id of the line at src: the same line read twice,
// resent after a crash or replayed from the archive always gets the same id, so
// every sink can deduplicate (it is the OpenSearch _id).
func ID(src *eventv1.Source) string {
	var b [32]byte
	return string(AppendID(b[:0], src))
}

// AppendID appends ID(src) to dst. It hashes from a stack buffer: the
// router takes an id for every line, and a hash.Hash, its sum and its hex
// string were three allocations each time.
func AppendID(dst []byte, src *eventv1.Source) []byte { return AppendOwnedID(dst, "", src) }

// AppendOwnedID appends the id of the line at src shipped by owner, the
// authenticated principal of the agent that sent it: one agent's token
// cannot name ids of another agent's files, so it cannot overwrite their
// events. An empty owner (authentication off) is ID(src). The owner comes
// first, marked and length-prefixed, so no host can spell an owned id.
func AppendOwnedID(dst []byte, owner string, src *eventv1.Source) []byte {
	var buf [256]byte
	in := buf[:0]
	if owner != "" {
		in = append(in, 0xff)
		in = binary.AppendUvarint(in, uint64(len(owner)))
		in = append(in, owner...)
	}
	in = append(in, src.GetHost()...)
	in = append(in, 0)
	in = append(in, src.GetFileId()...)
	in = append(in, 0)
	in = binary.BigEndian.AppendUint64(in, uint64(src.GetOffset()))
	sum := sha256.Sum256(in)
	return hex.AppendEncode(dst, sum[:16])
}

// Reserved reports whether a top-level document key belongs to the model;
// parsed fields with these names are dropped by Marshal (the parser maps
// them first).
func Reserved(key string) bool {
	switch key {
	case "@timestamp", "message", "data_stream", "event", "log", "host", "service", "labels", "tags", "hindsight":
		return true
	}
	return false
}

type doc struct {
	Timestamp  string            `json:"@timestamp"`
	Message    string            `json:"message"`
	DataStream dataStream        `json:"data_stream"`
	Event      docEvent          `json:"event"`
	Log        *docLog           `json:"log,omitempty"`
	Host       *named            `json:"host,omitempty"`
	Service    *named            `json:"service,omitempty"`
	Hindsight  *docHindsight     `json:"hindsight,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
}

type dataStream struct {
	Type      string `json:"type"`
	Dataset   string `json:"dataset"`
	Namespace string `json:"namespace"`
}

type docEvent struct {
	ID       string `json:"id"`
	Ingested string `json:"ingested,omitempty"`
}

type docLog struct {
	Level  string   `json:"level,omitempty"`
	File   *docFile `json:"file,omitempty"`
	Offset *int64   `json:"offset,omitempty"`
}

type docFile struct {
	Path string `json:"path,omitempty"`
}

type named struct {
	Name string `json:"name"`
}

type docHindsight struct {
	FileID string `json:"file_id,omitempty"`
}

// Marshal encodes e as its ECS JSON document. Parsed fields follow the model's
// keys as top-level dotted names ("http.response.status_code"), sorted, so the
// same event always encodes to the same bytes. The document is appended by
// hand rather than through encoding/json: it is written for every line the
// router takes, and reflection was half of the router's parse+encode time.
func Marshal(e *eventv1.Event) ([]byte, error) {
	return AppendMarshal(make([]byte, 0, 256+len(e.GetMessage())+64*len(e.GetFields().GetFields())), e)
}

// AppendMarshal appends e's document to buf.
func AppendMarshal(out []byte, e *eventv1.Event) ([]byte, error) {
	m := e.GetFields().GetFields()
	var fb [32]Field
	fields := fb[:0]
	for k, v := range m {
		fields = append(fields, Field{k, v})
	}
	return AppendDocument(out, e, SortFields(fields))
}

// Field is one parsed field of an event, by its name in the document.
type Field struct {
	Key   string
	Value *structpb.Value
}

// Fields are an event's parsed fields in the order the document writes
// them: sorted by key, each key once (see SortFields). The router's parsers
// hand a line's fields over as Fields rather than as the map of
// eventv1.Event.Fields: filling the map, then iterating and sorting it to
// write the document, was a third of the router's time per line.
type Fields []Field

// SortFields sorts f by key in place and keeps the last of equal keys (a
// field set twice holds its second value, as in a map), and returns it.
func SortFields(f []Field) Fields {
	slices.SortStableFunc(f, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	out := f[:0]
	for i, x := range f {
		if i+1 < len(f) && f[i+1].Key == x.Key {
			continue
		}
		out = append(out, x)
	}
	clear(f[len(out):])
	return Fields(out)
}

// Struct is f as eventv1.Event.Fields holds it (nil without fields).
func (f Fields) Struct() *structpb.Struct {
	if len(f) == 0 {
		return nil
	}
	m := make(map[string]*structpb.Value, len(f))
	for _, x := range f {
		m[x.Key] = x.Value
	}
	return &structpb.Struct{Fields: m}
}

// AppendDocument appends the document of e with the parsed fields fields
// (sorted, as SortFields leaves them) to out; e.Fields is not read.
func AppendDocument(out []byte, e *eventv1.Event, fields Fields) ([]byte, error) {
	out = append(out, `{"@timestamp":"`...)
	out = appendStamp(out, e.GetTimestamp())
	out = append(out, `","message":`...)
	out = appendString(out, e.GetMessage())
	out = append(out, `,"data_stream":{"type":"logs","dataset":`...)
	out = appendString(out, e.GetDataset())
	out = append(out, `,"namespace":"default"},"event":{"id":`...)
	out = appendString(out, e.GetId())
	if e.GetIngested() != nil {
		out = append(out, `,"ingested":"`...)
		out = appendStamp(out, e.GetIngested())
		out = append(out, '"')
	}
	out = append(out, '}')
	src := e.GetSource()
	if src != nil || e.GetLevel() != "" {
		out = append(out, `,"log":{`...)
		sep := false
		if e.GetLevel() != "" {
			out = appendString(append(out, `"level":`...), e.GetLevel())
			sep = true
		}
		if src != nil {
			if src.GetFilePath() != "" {
				if sep {
					out = append(out, ',')
				}
				out = appendString(append(out, `"file":{"path":`...), src.GetFilePath())
				out = append(out, '}')
			}
			if sep || src.GetFilePath() != "" {
				out = append(out, ',')
			}
			out = strconv.AppendInt(append(out, `"offset":`...), src.GetOffset(), 10)
		}
		out = append(out, '}')
	}
	if src.GetHost() != "" {
		out = appendString(append(out, `,"host":{"name":`...), src.GetHost())
		out = append(out, '}')
	}
	if e.GetService() != "" {
		out = appendString(append(out, `,"service":{"name":`...), e.GetService())
		out = append(out, '}')
	}
	if src.GetFileId() != "" {
		out = appendString(append(out, `,"hindsight":{"file_id":`...), src.GetFileId())
		out = append(out, '}')
	}
	if labels := e.GetLabels(); len(labels) > 0 {
		out = append(out, `,"labels":{`...)
		var kb [16]string
		for i, k := range sortedKeys(kb[:0], labels) {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(append(appendString(out, k), ':'), labels[k])
		}
		out = append(out, '}')
	}
	if tags := e.GetTags(); len(tags) > 0 {
		out = append(out, `,"tags":[`...)
		for i, t := range tags {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(out, t)
		}
		out = append(out, ']')
	}
	var err error
	for _, f := range fields {
		if Reserved(f.Key) {
			continue
		}
		out = append(appendString(append(out, ','), f.Key), ':')
		if out, err = appendValue(out, f.Value); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Key, err)
		}
	}
	return append(out, '}'), nil
}

// sortedKeys appends m's keys to keys (a caller's stack array, usually),
// sorted.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AppendTime appends t as TimeLayout writes it.
func AppendTime(b []byte, t time.Time) []byte {
	return appendTime(b, t.Unix(), t.Nanosecond())
}

func appendStamp(b []byte, ts *timestamppb.Timestamp) []byte {
	return appendTime(b, ts.GetSeconds(), int(ts.GetNanos()))
}

// Seconds from 0000-03-01 (the start of a 400-year era, counting March as
// the first month so that leap days end a year) to the UNIX epoch, and from
// the epoch to 10000-01-01.
const (
	eraToEpoch  = 719468 * 86400
	epochTo1e4Y = 253402300800
)

// appendTime writes the time sec seconds and nsec nanoseconds after the
// epoch as TimeLayout does, digit by digit from the seconds: time.Format's
// generality was an eighth of the router's encode time (twice per event).
func appendTime(b []byte, sec int64, nsec int) []byte {
	if sec < -eraToEpoch || sec >= epochTo1e4Y || nsec < 0 || nsec > 999999999 {
		return time.Unix(sec, int64(nsec)).UTC().AppendFormat(b, TimeLayout)
	}
	// Civil date from days (H. Hinnant's days_from_civil, inverted).
	s := sec + eraToEpoch
	days, rem := s/86400, int(s%86400)
	era := days / 146097
	doe := days - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := int(doy - (153*mp+2)/5 + 1)
	month := int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year := int(yoe + era*400)
	if month <= 2 {
		year++
	}
	// Two digits at a time from a table, into a fixed array appended once.
	var d [len(TimeLayout)]byte
	put2(d[0:], year/100)
	put2(d[2:], year%100)
	d[4] = '-'
	put2(d[5:], month)
	d[7] = '-'
	put2(d[8:], day)
	d[10] = 'T'
	put2(d[11:], rem/3600)
	d[13] = ':'
	put2(d[14:], rem/60%60)
	d[16] = ':'
	put2(d[17:], rem%60)
	d[19] = '.'
	put2(d[20:], nsec/10000000)
	put2(d[22:], nsec/100000%100)
	put2(d[24:], nsec/1000%100)
	put2(d[26:], nsec/10%100)
	d[28] = byte('0' + nsec%10)
	d[29] = 'Z'
	return append(b, d[:]...)
}

const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// put2 writes v (0-99) as two digits.
func put2(b []byte, v int) {
	b[0], b[1] = pairs[2*v], pairs[2*v+1]
}

// Unmarshal decodes an ECS JSON document written by Marshal (or any document
// with the same keys). Keys outside the model become parsed fields.
func Unmarshal(b []byte) (*eventv1.Event, error) {
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("event document: %w", err)
	}
	ts, err := ParseTime(d.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("event document @timestamp: %w", err)
	}
	e := &eventv1.Event{
		Id:        d.Event.ID,
		Timestamp: timestamppb.New(ts),
		Message:   d.Message,
		Dataset:   d.DataStream.Dataset,
		Labels:    d.Labels,
		Tags:      d.Tags,
	}
	if d.Event.Ingested != "" {
		t, err := ParseTime(d.Event.Ingested)
		if err != nil {
			return nil, fmt.Errorf("event document event.ingested: %w", err)
		}
		e.Ingested = timestamppb.New(t)
	}
	if d.Service != nil {
		e.Service = d.Service.Name
	}
	src := &eventv1.Source{}
	if d.Host != nil {
		src.Host = d.Host.Name
	}
	if d.Log != nil {
		e.Level = d.Log.Level
		if d.Log.File != nil {
			src.FilePath = d.Log.File.Path
		}
		if d.Log.Offset != nil {
			src.Offset = *d.Log.Offset
		}
	}
	if d.Hindsight != nil {
		src.FileId = d.Hindsight.FileID
	}
	if src.Host != "" || src.FilePath != "" || src.FileId != "" || (d.Log != nil && d.Log.Offset != nil) {
		e.Source = src
	}

	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, raw := range all {
		if Reserved(k) {
			continue
		}
		var v structpb.Value
		if err := v.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("event document field %s: %w", k, err)
		}
		if e.Fields == nil {
			e.Fields = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		}
		e.Fields.Fields[k] = &v
	}
	return e, nil
}

// FormatTime writes t the way documents and headers carry it: UTC, nanoseconds.
func FormatTime(t time.Time) string {
	var b [len(TimeLayout)]byte
	return string(AppendTime(b[:0], t))
}

// ParseTime reads a time written by FormatTime (or any RFC 3339 time).
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
