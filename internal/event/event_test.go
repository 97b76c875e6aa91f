package event

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

func sample() *eventv1.Event {
	fields, _ := structpb.NewStruct(map[string]any{
		"http.response.status_code": 502,
		"url.path":                  "/api/users",
		"message":                   "dropped: reserved",
	})
	src := &eventv1.Source{Host: "node-1", FilePath: "/var/log/nginx/access.log", FileId: "ab12", Offset: 4096}
	return &eventv1.Event{
		Id:        ID(src),
		Timestamp: timestamppb.New(time.Date(2015, 10, 21, 16, 29, 0, 123456789, time.UTC)),
		Ingested:  timestamppb.New(time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)),
		Message:   `10.0.0.1 - - [21/Oct/2015:16:29:00 +0000] "GET /api/users HTTP/1.1" 502 0`,
		Dataset:   "nginx.access",
		Level:     "error",
		Service:   "frontend",
		Source:    src,
		Labels:    map[string]string{"env": "prod"},
		Fields:    fields,
		Tags:      []string{"_timestamp_fallback"},
	}
}

func TestIDIsDeterministicAndSourceSpecific(t *testing.T) {
	a := &eventv1.Source{Host: "h", FileId: "f", Offset: 10}
	if ID(a) != ID(proto.Clone(a).(*eventv1.Source)) {
		t.Fatal("same source, different ids")
	}
	for _, b := range []*eventv1.Source{
		{Host: "h2", FileId: "f", Offset: 10},
		{Host: "h", FileId: "f2", Offset: 10},
		{Host: "h", FileId: "f", Offset: 11},
		{Host: "hf", FileId: "", Offset: 10}, // no ambiguity from concatenation
	} {
		if ID(a) == ID(b) {
			t.Errorf("%v and %v share an id", a, b)
		}
	}
	if ID(a) != ID(&eventv1.Source{Host: "h", FilePath: "/other/path", FileId: "f", Offset: 10}) {
		t.Error("the path must not change the id: rotation renames files")
	}
}

func TestMarshalIsECS(t *testing.T) {
	b, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@timestamp":                "2015-10-21T16:29:00.123456789Z",
		"data_stream.dataset":       "nginx.access",
		"event.ingested":            "2026-11-22T05:00:00.000000000Z",
		"log.level":                 "error",
		"log.file.path":             "/var/log/nginx/access.log",
		"log.offset":                4096.0,
		"host.name":                 "node-1",
		"service.name":              "frontend",
		"labels.env":                "prod",
		"http.response.status_code": 502.0,
	}
	for path, v := range want {
		if got := lookup(m, path); got != v {
			t.Errorf("%s = %v, want %v", path, got, v)
		}
	}
	if m["message"] != sample().Message {
		t.Errorf("message = %v (a parsed field must not replace it)", m["message"])
	}
	again, _ := Marshal(sample())
	if string(again) != string(b) {
		t.Error("encoding is not deterministic")
	}
}

// lookup finds an ECS path in a nested document, or as a dotted top-level key.
func lookup(m map[string]any, path string) any {
	if v, ok := m[path]; ok {
		return v
	}
	head, rest, ok := strings.Cut(path, ".")
	if !ok {
		return nil
	}
	sub, _ := m[head].(map[string]any)
	if sub == nil {
		return nil
	}
	return lookup(sub, rest)
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	delete(in.Fields.Fields, "message") // reserved: dropped on purpose
	if !proto.Equal(in, out) {
		t.Fatalf("round trip changed the event:\n in: %v\nout: %v", in, out)
	}
}

func TestUnmarshalRejectsBadTime(t *testing.T) {
	if _, err := Unmarshal([]byte(`{"@timestamp":"yesterday","message":"x"}`)); err == nil || !strings.Contains(err.Error(), "@timestamp") {
		t.Fatalf("want an @timestamp error, got %v", err)
	}
}

func BenchmarkMarshal(b *testing.B) {
	e := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// The hand-written encoder must agree with encoding/json on every kind of value.
func TestFieldEncodingMatchesEncodingJSON(t *testing.T) {
	tricky := map[string]any{
		"s":      "quote\" backslash\\ nl\n tab\t ctl\x01 del\x7f é 日本 \u2028",
		"n":      []any{0.0, -1.5, 1e21, 1e-7, 123456789.0, 3.0},
		"b":      []any{true, false, nil},
		"nested": map[string]any{"z": 1.0, "a": map[string]any{"deep": "x"}},
	}
	fields, err := structpb.NewStruct(tricky)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields.Fields {
		got, err := appendValue(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v.AsInterface())
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: invalid JSON %s: %v", k, got, err)
		}
		_ = json.Unmarshal(want, &w)
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
	if got := string(appendString(nil, "a\xffb")); got != `"a\ufffdb"` {
		t.Errorf("invalid UTF-8: got %s", got)
	}
	if _, err := appendValue(nil, structpb.NewNumberValue(math.NaN())); err == nil {
		t.Error("NaN must not encode")
	}
}

// TestFormatTimeIsTimeLayout holds the digit-by-digit writer to time.Format
// across the years it writes itself (0-9999, leap days, before the epoch)
// and past them.
func TestFormatTimeIsTimeLayout(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0), time.Unix(-1, 999999999), time.Unix(951782400, 1), // 2000-02-29
		time.Date(1600, 2, 29, 23, 59, 59, 999999999, time.UTC), time.Date(0, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2015, 10, 21, 16, 29, 0, 123456789, time.FixedZone("x", 7200)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 1),
	}
	for s := int64(-70000000000); s < 260000000000; s += 86400*37 + 3599 {
		times = append(times, time.Unix(s, s%1000000000))
	}
	for _, tm := range times {
		if got, want := FormatTime(tm), tm.UTC().Format(TimeLayout); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}

// TestAppendStringEveryByteEverywhere puts each byte value, and runes of
// two to four bytes, at each position around the eight-byte steps of
// appendString: the output must decode to what encoding/json's does
// (invalid UTF-8 as U+FFFD).
func TestAppendStringEveryByteEverywhere(t *testing.T) {
	var specials []string
	for c := 0; c < 256; c++ {
		specials = append(specials, string([]byte{byte(c)}))
	}
	specials = append(specials, "é", "日", "😀", "\xe6\x97", "\u2028")
	for _, sp := range specials {
		for pos := 0; pos < 20; pos++ {
			s := strings.Repeat("a", pos) + sp + strings.Repeat("b", 20-pos)
			out := appendString(nil, s)
			var got string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%q: invalid JSON %s: %v", s, out, err)
			}
			ref, _ := json.Marshal(s)
			var want string
			_ = json.Unmarshal(ref, &want)
			if got != want {
				t.Fatalf("%q: decodes to %q, want %q", s, got, want)
			}
		}
	}
}

// TestNumbersAreEncodingJSONsBytes: the short way for whole numbers writes
// exactly what encoding/json writes, so documents do not change.
func TestNumbersAreEncodingJSONsBytes(t *testing.T) {
	nums := []float64{0, math.Copysign(0, -1), 1, -1, 200, 65535, 1445444940123, 1e15 - 1, 1e15, -1e15, 1e20, 1e21, 0.5, -2.25, 1e-7, -3e-9, 1.5e-300, 123456789.125, float64(1 << 53), math.MaxInt64}
	for i := range 2000 {
		nums = append(nums, float64(i*i*i)*7, -float64(i)*1e9+float64(i))
	}
	for _, f := range nums {
		got, err := appendNumber(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(f)
		if string(got) != string(want) {
			t.Fatalf("%v: got %s, encoding/json %s", f, got, want)
		}
	}
}
