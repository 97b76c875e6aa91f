package parse

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/parse/parsetest"
)

// Each FuzzXxx runs one format's parser on arbitrary bytes (go test -fuzz
// FuzzJSON ./internal/parse). Without -fuzz they run the seeds: the samples
// plus the awkward lines below. The properties hold for every format: no
// panic, a valid time, valid UTF-8 everywhere, no field that collides with
// the event model, and an event that encodes and decodes.

func FuzzRaw(f *testing.F)      { fuzzFormat(f, "raw") }
func FuzzJSON(f *testing.F)     { fuzzFormat(f, "json") }
func FuzzLogfmt(f *testing.F)   { fuzzFormat(f, "logfmt") }
func FuzzCombined(f *testing.F) { fuzzFormat(f, "combined") }
func FuzzRFC3164(f *testing.F)  { fuzzFormat(f, "rfc3164") }
func FuzzRFC5424(f *testing.F)  { fuzzFormat(f, "rfc5424") }
func FuzzRegex(f *testing.F)    { fuzzFormat(f, "regex") }

// FuzzTime checks the time auto-detection on its own.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"2015-10-21T16:29:00.123+02:00", "21/Oct/2015:16:29:00 -0700", "Oct 21 16:29:00", "1445444940123", "9999999999999999999", "2015-10-21T16:29:00.99999999999999999999Z"} {
		f.Add(s)
	}
	tp := timeParser{loc: time.UTC}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := tp.parse(s, readTime); ok && got.IsZero() {
			t.Fatalf("%q: recognised as the zero time", s)
		}
	})
}

// FuzzHTTPTime holds the access log's hand-written time reader to
// time.Parse(httpDate): what it takes, time.Parse takes as the same instant.
func FuzzHTTPTime(f *testing.F) {
	for _, s := range []string{"21/Oct/2015:16:29:00 +0200", "10/Oct/2000:13:55:36 -0700", "29/Feb/2015:00:00:00 +0000", "31/Dec/9999:23:59:59 -2359", "01/oct/2015:16:29:60 +0000", "1/Oct/2015:16:29:00 +0000", "21/Oct/2015:16:29:00 Z0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := httpTimeFast(s)
		want, err := time.Parse(httpDate, s)
		if ok && (err != nil || !got.Equal(want)) {
			t.Fatalf("%q: hand-read %v, time.Parse %v (%v)", s, got, want, err)
		}
		// The usual shape (month capitalised, zone within ±23:59) is read by hand.
		if _, zone := zoneOffset(s[min(21, len(s)):]); err == nil && len(s) == len(httpDate) && monthNumbers[s[3:6]] != 0 && zone && !ok {
			t.Fatalf("%q: time.Parse takes it (%v), the hand-written reader does not", s, want)
		}
	})
}

var awkward = []string{
	"", " ", "\x00\xff\xfe", "{", `{"a":`, `{"":{"":{"":1}}}`, `{"message":{"x":1},"log":3,"host":7}`,
	`{"ts":1e400}`, `{"ts":-5}`, `{"time":99999999999999999999999}`, `{"level":50.5}`,
	`a=`, `="x"`, `k="\xff"`, `k="\u00"`, `"`, `k=v k=w`,
	`1.2.3.4 - - [`, `- - - [] "" - -`, `h i u [21/Oct/2015:16:29:00 +0000] "GET" 200 -`,
	`<`, `<999>`, `<1>`, `<13>Oct 21 16:29:00`, `<13>Oct 21 16:29:00 `, `Dec 31 23:59:60 h t[: m`,
	`<1>1 - - - - - [`, `<1>1 - - - - - [a b="\`, `<1>1 - - - - - [a b="c"`, `<1>1 - - - - - []`,
	"2015-10-21 16:29:00,123 ERROR [", "caf\xe9 \xe2\x82",
	`a, b, [21/Oct/2015:16:29:00 +0000] "G" 1 1`, `h:99999 c - - [21/Oct/2015:16:29:00 +0000] "G" 200 1 "" "" x "y`,
	`, - - [21/Oct/2015:16:29:00 +0000] "G" 200 1`, `Nov 9 12:01:01 h p(c)[1] (d): m`, `Nov 9 12:01:01.`, `Nov 99 12:01:01 h p(: m`,
	`Jan 1 1:1:1 h p[: m`,
}

func fuzzFormat(f *testing.F, name string) {
	s, ok := parsetest.Lookup(name)
	if !ok {
		f.Fatalf("no sample %s", name)
	}
	p, err := New(s.Config)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range append(s.Lines, awkward...) {
		f.Add([]byte(l), false)
	}
	f.Fuzz(func(t *testing.T, line []byte, truncated bool) {
		in := Input{Line: bytes.Clone(line), ReadTime: readTime, Truncated: truncated}
		e := p.Parse(in)
		if !bytes.Equal(in.Line, line) {
			t.Fatal("Parse changed its input")
		}
		if !e.Timestamp.IsValid() || !validTime(e.Timestamp.AsTime()) {
			t.Fatalf("invalid @timestamp %v", e.Timestamp)
		}
		if !utf8.ValidString(e.Message) {
			t.Fatalf("message is not UTF-8: %q", e.Message)
		}
		sanitized := string(bytes.ToValidUTF8(line, []byte("\uFFFD")))
		if Failed(e) && e.Message != sanitized {
			t.Fatalf("a failed line must be kept whole: message %q, line %q", e.Message, sanitized)
		}
		if !utf8.Valid(line) != has(e.Tags, TagInvalidUTF8) || truncated != has(e.Tags, TagTruncated) {
			t.Fatalf("tags %q for a line (valid UTF-8: %v, truncated: %v)", e.Tags, utf8.Valid(line), truncated)
		}
		for k, v := range e.GetFields().GetFields() {
			if owned(k) || fieldName(k) != k || !utf8.ValidString(k) {
				t.Fatalf("field name %q", k)
			}
			checkValue(t, k, v)
		}
		if _, err := proto.Marshal(e); err != nil {
			t.Fatalf("proto: %v", err)
		}
		doc, err := event.Marshal(e)
		if err != nil {
			t.Fatalf("event.Marshal: %v", err)
		}
		if !json.Valid(doc) {
			t.Fatalf("invalid document %s", doc)
		}
		back, err := event.Unmarshal(doc)
		if err != nil {
			t.Fatalf("event.Unmarshal: %v", err)
		}
		if !back.Timestamp.AsTime().Equal(e.Timestamp.AsTime()) || back.Message != e.Message {
			t.Fatalf("round trip changed the event: %v -> %v", e, back)
		}
	})
}

func checkValue(t *testing.T, k string, v *structpb.Value) {
	switch x := v.Kind.(type) {
	case *structpb.Value_StringValue:
		if !utf8.ValidString(x.StringValue) {
			t.Fatalf("field %s is not UTF-8: %q", k, x.StringValue)
		}
	case *structpb.Value_ListValue:
		for _, e := range x.ListValue.Values {
			checkValue(t, k, e)
		}
	case *structpb.Value_StructValue:
		for sk, e := range x.StructValue.Fields {
			checkValue(t, k+"."+sk, e)
		}
	}
}

func has(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}
