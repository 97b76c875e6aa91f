package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		line string
		want Entry
	}{
		{"docker stdout", Docker, `{"log":"GET / 200\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte("GET / 200"), Stream: "stdout", Time: t0}},
		{"docker stderr crlf", Docker, `{"log":"boom\r\n","stream":"stderr","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte("boom"), Stream: "stderr", Time: t0}},
		{"docker partial", Docker, `{"log":"first half ","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte("first half "), Stream: "stdout", Time: t0, Partial: true}},
		{"docker escapes", Docker, `{"log":"{\"a\":\"\u00e9\\t\"}\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte("{\"a\":\"é\\t\"}"), Stream: "stdout", Time: t0}},
		{"docker empty line", Docker, `{"log":"\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte{}, Stream: "stdout", Time: t0}},
		{"docker attrs and offset time", Docker, `{"log":"x\n","stream":"stdout","attrs":{"tag":"web"},"time":"2024-05-01T12:00:00.123456789+02:00"}`,
			Entry{Message: []byte("x"), Stream: "stdout", Time: t0}},
		{"cri full", CRI, "2024-05-01T10:00:00.123456789Z stdout F GET / 200",
			Entry{Message: []byte("GET / 200"), Stream: "stdout", Time: t0}},
		{"cri partial", CRI, "2024-05-01T10:00:00.123456789Z stderr P first half ",
			Entry{Message: []byte("first half "), Stream: "stderr", Time: t0, Partial: true}},
		{"cri crlf", CRI, "2024-05-01T10:00:00.123456789Z stdout F boom\r",
			Entry{Message: []byte("boom"), Stream: "stdout", Time: t0}},
		{"cri empty with space", CRI, "2024-05-01T10:00:00.123456789Z stdout F ",
			Entry{Message: []byte{}, Stream: "stdout", Time: t0}},
		{"cri empty without space", CRI, "2024-05-01T10:00:00.123456789Z stdout F",
			Entry{Message: nil, Stream: "stdout", Time: t0}},
		{"cri more tags", CRI, "2024-05-01T10:00:00.123456789Z stdout F:x spaces  kept ",
			Entry{Message: []byte("spaces  kept "), Stream: "stdout", Time: t0}},
		{"auto docker", Auto, `{"log":"a\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Message: []byte("a"), Stream: "stdout", Time: t0}},
		{"auto cri", Auto, "2024-05-01T10:00:00.123456789Z stdout F {\"a\":1}",
			Entry{Message: []byte(`{"a":1}`), Stream: "stdout", Time: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.f, []byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Message) != string(tc.want.Message) || got.Stream != tc.want.Stream ||
				!got.Time.Equal(tc.want.Time) || got.Partial != tc.want.Partial {
				t.Fatalf("got %q %s %v partial=%v, want %q %s %v partial=%v", got.Message, got.Stream, got.Time, got.Partial,
					tc.want.Message, tc.want.Stream, tc.want.Time, tc.want.Partial)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		line string
		want string
	}{
		{Docker, `not json`, "json-file"},
		{Docker, `{"stream":"stdout","time":"2024-05-01T10:00:00Z"}`, `no "log"`},
		{Docker, `{"log":"x\n","stream":"stdout"}`, `no "time"`},
		{Docker, `{"log":"x\n","stream":"stdin","time":"2024-05-01T10:00:00Z"}`, "stream"},
		{Docker, `{"log":"x\n","stream":"stdout","time":"yesterday"}`, "json-file"},
		{CRI, ``, "no stream"},
		{CRI, `GET / HTTP/1.1`, "time"},
		{CRI, `2024-05-01T10:00:00Z stdout`, "no tag"},
		{CRI, `2024-05-01T10:00:00Z stdout X msg`, "tag"},
		{CRI, `2024-05-01T10:00:00Z console F msg`, "stream"},
		{None, `x`, "no envelope"},
	} {
		_, err := Decode(tc.f, []byte(tc.line))
		if !errors.Is(err, ErrEnvelope) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%v, %q) = %v, want an error about %q", tc.f, tc.line, err, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for s, want := range map[string]Format{"": None, "docker": Docker, "cri": CRI, "container": Auto} {
		if f, err := ParseFormat(s); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("json-file"); err == nil {
		t.Error("an unknown format accepted")
	}
}

// physical turns envelope lines into the lines a lines.Reader returns,
// with their offsets.
func physical(ls ...string) []lines.Line {
	var out []lines.Line
	off := int64(0)
	for _, l := range ls {
		out = append(out, lines.Line{Bytes: []byte(l), Start: off, End: off + int64(len(l)) + 1})
		off += int64(len(l)) + 1
	}
	return out
}

func docker(stream, log string, sec int) string {
	b, _ := json.Marshal(map[string]string{"log": log, "stream": stream, "time": t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)})
	return string(b)
}

func cri(stream, tag, msg string, sec int) string {
	return fmt.Sprintf("%s %s %s %s", t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano), stream, tag, msg)
}

type got struct {
	msg, stream string
	start, end  int64
	sec         int
	trunc       bool
}

func collect(t *testing.T, d *Decoder, in []lines.Line) (out []got, errs int) {
	t.Helper()
	add := func(l lines.Line) {
		sec := -1 // no envelope time
		if !l.Time.IsZero() {
			sec = int(l.Time.Sub(t0) / time.Second)
		}
		out = append(out, got{string(l.Bytes), l.Stream, l.Start, l.End, sec, l.Truncated})
	}
	for _, ln := range in {
		ls, err := d.Add(ln)
		if err != nil {
			errs++
		}
		for _, l := range ls {
			add(l)
		}
	}
	if l, ok := d.Flush(); ok {
		add(l)
	}
	return out, errs
}

func TestDecoderJoinsPartials(t *testing.T) {
	in := physical(
		docker("stdout", "one\n", 0),
		docker("stdout", "two a ", 1), docker("stdout", "two b ", 2), docker("stdout", "two c\r", 3), docker("stdout", "\n", 4),
		docker("stderr", "err\n", 5),
		docker("stdout", "cut short ", 6),     // a partial ...
		docker("stderr", "other stream\n", 7), // ... cut short by the other stream
		"garbage",
		docker("stdout", "trailing partial", 9),
	)
	out, errs := collect(t, NewDecoder(Docker, 1024), in)
	want := []got{
		{"one", "stdout", in[0].Start, in[0].End, 0, false},
		{"two a two b two c", "stdout", in[1].Start, in[4].End, 1, false},
		{"err", "stderr", in[5].Start, in[5].End, 5, false},
		{"cut short ", "stdout", in[6].Start, in[6].End, 6, false},
		{"other stream", "stderr", in[7].Start, in[7].End, 7, false},
		{"garbage", "", in[8].Start, in[8].End, -1, false},
		{"trailing partial", "stdout", in[9].Start, in[9].End, 9, false},
	}
	if errs != 1 {
		t.Errorf("%d undecodable lines, want 1", errs)
	}
	check(t, out, want)
}

func TestDecoderCRI(t *testing.T) {
	in := physical(cri("stdout", "P", "a", 0), cri("stdout", "P", "b", 1), cri("stdout", "F", "c", 2), cri("stderr", "F", "d", 3))
	out, _ := collect(t, NewDecoder(CRI, 1024), in)
	check(t, out, []got{
		{"abc", "stdout", in[0].Start, in[2].End, 0, false},
		{"d", "stderr", in[3].Start, in[3].End, 3, false},
	})
}

func TestDecoderCutsLongLines(t *testing.T) {
	in := physical(docker("stdout", strings.Repeat("a", 6), 0), docker("stdout", strings.Repeat("b", 6)+"\n", 1),
		docker("stdout", strings.Repeat("c", 12)+"\n", 2))
	out, _ := collect(t, NewDecoder(Docker, 10), in)
	check(t, out, []got{
		{"aaaaaabbbb", "stdout", in[0].Start, in[1].End, 0, true},
		{"cccccccccc", "stdout", in[2].Start, in[2].End, 2, true},
	})
}

func check(t *testing.T, out, want []got) {
	t.Helper()
	if len(out) != len(want) {
		t.Fatalf("got %d lines %+v, want %d %+v", len(out), out, len(want), want)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, out[i], want[i])
		}
	}
}

// FuzzDecoder: whatever the lines, the decoder returns each physical line's
// bytes in exactly one output line, in order, with contiguous offsets, none
// longer than the limit, and a Decode that succeeds agrees with json-file
// semantics: a complete entry's message never ends in a newline.
func FuzzDecoder(f *testing.F) {
	f.Add(docker("stdout", "a\n", 0), docker("stdout", "b", 1), cri("stderr", "P", "c", 2), uint8(3))
	f.Add("{", "2024-05-01T10:00:00Z stdout F x\r", `{"log":"\r","stream":"stderr","time":"2024-05-01T10:00:00Z"}`, uint8(0))
	f.Fuzz(func(t *testing.T, a, b, c string, fmtSel uint8) {
		format := []Format{Docker, CRI, Auto}[int(fmtSel)%3]
		for _, s := range []string{a, b, c} {
			if e, err := Decode(format, []byte(s)); err == nil && !e.Partial && strings.HasSuffix(string(e.Message), "\n") && format == Docker {
				t.Fatalf("complete entry %q keeps a newline: %q", s, e.Message)
			}
		}
		in := physical(a, b, c, a)
		d := NewDecoder(format, 16)
		var next int64
		for i, ln := range in {
			ls, _ := d.Add(ln)
			for _, l := range ls {
				if l.Start != next || l.End <= l.Start || l.End > ln.End {
					t.Fatalf("line %d: range [%d,%d) after %d (physical [%d,%d))", i, l.Start, l.End, next, ln.Start, ln.End)
				}
				if len(l.Bytes) > 16 && l.Stream != "" {
					t.Fatalf("decoded line of %d bytes over the limit 16", len(l.Bytes))
				}
				next = l.End
			}
		}
		if l, ok := d.Flush(); ok {
			if l.Start != next {
				t.Fatalf("flushed line starts at %d, want %d", l.Start, next)
			}
			next = l.End
		}
		if next != in[len(in)-1].End {
			t.Fatalf("lines end at %d, the physical lines at %d", next, in[len(in)-1].End)
		}
	})
}

// FuzzFastDocker: where the fast json-file reader takes a line, it reads
// what encoding/json reads.
func FuzzFastDocker(f *testing.F) {
	for _, s := range []string{
		docker("stdout", "plain\n", 0), docker("stderr", "tab\there \"q\" <b> é \u2028 \\ /\n", 1),
		docker("stdout", "partial", 2), `{"log":"\u00e9\ud83d\ude00\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`,
		`{"log":"x\n","stream":"stdout","attrs":{"a":"b"},"time":"2024-05-01T10:00:00Z"}`,
		`{"log":"x\n","stream":"stdout","time":"2024-05-01T10:00:00.5+02:00"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fast, _, ok := decodeDockerFast([]byte(line), nil)
		slow, err := decodeDocker([]byte(line))
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%q: the fast reader took it, encoding/json did not: %v", line, err)
		}
		if !bytes.Equal(fast.Message, slow.Message) || fast.Stream != slow.Stream || !fast.Time.Equal(slow.Time) || fast.Partial != slow.Partial {
			t.Fatalf("%q: fast %q %s %v %v, encoding/json %q %s %v %v", line, fast.Message, fast.Stream, fast.Time, fast.Partial,
				slow.Message, slow.Stream, slow.Time, slow.Partial)
		}
	})
}

func TestFastDockerTakesTheDriversLines(t *testing.T) {
	for _, s := range []string{docker("stdout", "a <b> & c\n", 0), docker("stderr", "é\t\"x\"\r\n", 1), docker("stdout", "part", 2)} {
		if _, _, ok := decodeDockerFast([]byte(s), nil); !ok {
			t.Errorf("the fast reader left %q to encoding/json", s)
		}
	}
}
