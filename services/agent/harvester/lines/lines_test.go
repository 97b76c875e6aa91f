package lines

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func collect(t *testing.T, r *Reader) []Line {
	t.Helper()
	var out []Line
	for {
		ln, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		ln.Bytes = bytes.Clone(ln.Bytes)
		out = append(out, ln)
	}
}

func TestOffsetsAcrossSmallBuffers(t *testing.T) {
	data := "alpha\n\nbeta gamma\ndelta\n"
	for _, bufSize := range []int{1, 2, 3, 7, 64} {
		r := NewReader(iotest.OneByteReader(strings.NewReader(data)), 100, 1024, bufSize)
		got := collect(t, r)
		want := []Line{
			{Bytes: []byte("alpha"), Start: 100, End: 106},
			{Bytes: []byte(""), Start: 106, End: 107},
			{Bytes: []byte("beta gamma"), Start: 107, End: 118},
			{Bytes: []byte("delta"), Start: 118, End: 124},
		}
		if len(got) != len(want) {
			t.Fatalf("buf %d: %d lines, want %d: %+v", bufSize, len(got), len(want), got)
		}
		for i := range want {
			if string(got[i].Bytes) != string(want[i].Bytes) || got[i].Start != want[i].Start || got[i].End != want[i].End || got[i].Truncated {
				t.Errorf("buf %d line %d: %+v, want %+v", bufSize, i, got[i], want[i])
			}
		}
		if r.Pos() != 124 {
			t.Errorf("buf %d: Pos %d", bufSize, r.Pos())
		}
	}
}

// growing is a file that is still being written: it returns io.EOF at its
// current end and more data after append.
type growing struct{ data []byte }

func (g *growing) Read(p []byte) (int, error) {
	if len(g.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

func TestPartialLineWaitsForItsNewline(t *testing.T) {
	g := &growing{data: []byte("one\ntw")}
	r := NewReader(g, 0, 1024, 4)
	if got := collect(t, r); len(got) != 1 || string(got[0].Bytes) != "one" {
		t.Fatalf("first read: %+v", got)
	}
	if r.Pos() != 6 {
		t.Fatalf("Pos %d, want 6 (the partial line is consumed)", r.Pos())
	}
	g.data = []byte("o\nthree")
	got := collect(t, r)
	if len(got) != 1 || string(got[0].Bytes) != "two" || got[0].Start != 4 || got[0].End != 8 {
		t.Fatalf("second read: %+v", got)
	}
	rest, ok := r.Rest()
	if !ok || string(rest.Bytes) != "three" || rest.Start != 8 || rest.End != 13 {
		t.Fatalf("rest: %+v %v", rest, ok)
	}
	if _, ok := r.Rest(); ok {
		t.Fatal("Rest twice")
	}
}

func TestLongLinesAreCutAndFlagged(t *testing.T) {
	long := strings.Repeat("x", 100)
	data := "short\n" + long + "\n" + "after\n" + strings.Repeat("y", 10) + "\n"
	for _, bufSize := range []int{8, 1000} {
		got := collect(t, NewReader(strings.NewReader(data), 0, 10, bufSize))
		if len(got) != 4 {
			t.Fatalf("buf %d: %+v", bufSize, got)
		}
		if string(got[1].Bytes) != strings.Repeat("x", 10) || !got[1].Truncated || got[1].Start != 6 || got[1].End != 107 {
			t.Errorf("buf %d: long line %+v", bufSize, got[1])
		}
		if string(got[2].Bytes) != "after" || got[2].Truncated || got[2].Start != 107 {
			t.Errorf("buf %d: line after the long one %+v", bufSize, got[2])
		}
		if got[3].Truncated {
			t.Errorf("buf %d: a line of exactly the limit is not truncated", bufSize)
		}
	}
}

func TestBinaryAndInvalidUTF8PassThrough(t *testing.T) {
	data := []byte("\x00\xff\xfe bin\r\x01\n\xc3\x28\n")
	got := collect(t, NewReader(bytes.NewReader(data), 0, 1024, 3))
	if len(got) != 2 || !bytes.Equal(got[0].Bytes, []byte("\x00\xff\xfe bin\r\x01")) || !bytes.Equal(got[1].Bytes, []byte("\xc3\x28")) {
		t.Fatalf("%+v", got)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), 2, 3)
	f.Fuzz(func(t *testing.T, data []byte, max, bufSize int) {
		if max < 1 || max > 64 || bufSize < 1 || bufSize > 64 {
			return
		}
		r := NewReader(bytes.NewReader(data), 0, max, bufSize)
		var next int64
		for {
			ln, err := r.Next()
			if err != nil {
				break
			}
			if ln.Start != next || data[ln.End-1] != '\n' || len(ln.Bytes) > max {
				t.Fatalf("bad line %+v after %d", ln, next)
			}
			if !ln.Truncated && !bytes.Equal(ln.Bytes, data[ln.Start:ln.End-1]) {
				t.Fatalf("content %q, want %q", ln.Bytes, data[ln.Start:ln.End-1])
			}
			next = ln.End
		}
		if rest, ok := r.Rest(); ok {
			next = rest.End
		}
		if next != int64(len(data)) {
			t.Fatalf("covered %d of %d bytes", next, len(data))
		}
	})
}

// BenchmarkReader is line splitting alone, from memory.
func BenchmarkReader(b *testing.B) {
	line := strings.Repeat("x", 119) + "\n"
	data := []byte(strings.Repeat(line, 100_000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0, 1<<18, 64<<10)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

func TestCRLF(t *testing.T) {
	data := "one\r\ntwo\r\n\r\nthree\rx\n"
	for _, bufSize := range []int{1, 2, 4, 64} {
		got := collect(t, NewReader(iotest.OneByteReader(strings.NewReader(data)), 0, 1024, bufSize))
		want := []Line{
			{Bytes: []byte("one"), Start: 0, End: 5},
			{Bytes: []byte("two"), Start: 5, End: 10},
			{Bytes: []byte(""), Start: 10, End: 12},
			{Bytes: []byte("three\rx"), Start: 12, End: 20},
		}
		if len(got) != len(want) {
			t.Fatalf("buf %d: %d lines, want %d: %+v", bufSize, len(got), len(want), got)
		}
		for i := range want {
			if string(got[i].Bytes) != string(want[i].Bytes) || got[i].Start != want[i].Start || got[i].End != want[i].End {
				t.Errorf("buf %d line %d: %+v, want %+v", bufSize, i, got[i], want[i])
			}
		}
	}
}
