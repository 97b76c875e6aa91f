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
	"sort"
	"strconv"
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
	h := sha256.New()
	h.Write([]byte(src.GetHost()))
	h.Write([]byte{0})
	h.Write([]byte(src.GetFileId()))
	h.Write([]byte{0})
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], uint64(src.GetOffset()))
	h.Write(off[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// reserved are the document's top-level keys the model owns; parsed fields
// with these names are dropped by Marshal (the parser maps them first).
var reserved = map[string]bool{
	"@timestamp": true, "message": true, "data_stream": true, "event": true, "log": true,
	"host": true, "service": true, "labels": true, "tags": true, "hindsight": true,
}

// Reserved reports whether a top-level document key belongs to the model.
func Reserved(key string) bool { return reserved[key] }

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
	out = append(out, `{"@timestamp":"`...)
	out = appendTime(out, e.GetTimestamp().AsTime())
	out = append(out, `","message":`...)
	out = appendString(out, e.GetMessage())
	out = append(out, `,"data_stream":{"type":"logs","dataset":`...)
	out = appendString(out, e.GetDataset())
	out = append(out, `,"namespace":"default"},"event":{"id":`...)
	out = appendString(out, e.GetId())
	if e.GetIngested() != nil {
		out = append(out, `,"ingested":"`...)
		out = appendTime(out, e.GetIngested().AsTime())
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
		for i, k := range sortedKeys(labels) {
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
	fields := e.GetFields().GetFields()
	var err error
	for _, k := range sortedKeys(fields) {
		if reserved[k] {
			continue
		}
		out = append(appendString(append(out, ','), k), ':')
		if out, err = appendValue(out, fields[k]); err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
	}
	return append(out, '}'), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// appendTime writes t as TimeLayout does, digit by digit: time.Format's
// generality was an eighth of the router's encode time (twice per event).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits writes v zero-padded to n digits.
func appendDigits(b []byte, v, n int) []byte {
	var buf [9]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
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
		if reserved[k] {
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
func FormatTime(t time.Time) string { return string(appendTime(make([]byte, 0, len(TimeLayout)), t)) }

// ParseTime reads a time written by FormatTime (or any RFC 3339 time).
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
