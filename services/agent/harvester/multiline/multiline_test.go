package multiline

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
)

type event struct {
	text       string
	start, end int64
	truncated  bool
}

func run(a *Aggregator, text string) []event {
	var out []event
	keep := func(ev lines.Line) {
		out = append(out, event{string(ev.Bytes), ev.Start, ev.End, ev.Truncated})
	}
	var off int64
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		ln := lines.Line{Bytes: []byte(strings.TrimSuffix(l, "\n")), Start: off, End: off + int64(len(l))}
		off = ln.End
		if ev, ok := a.Add(ln); ok {
			keep(ev)
		}
	}
	if ev, ok := a.Flush(); ok {
		keep(ev)
	}
	return out
}

func TestStackTracesJoin(t *testing.T) {
	text := "  orphan continuation\n" +
		"2024-01-01 ERROR boom\n" +
		"\tat a.b(C.java:1)\n" +
		"\tat d.e(F.java:2)\n" +
		"2024-01-01 INFO ok\n" +
		"2024-01-01 WARN last\n" +
		"  tail\n"
	got := run(New(regexp.MustCompile(`^\d{4}-`), 1<<20), text)
	want := []event{
		{"  orphan continuation", 0, 22, false},
		{"2024-01-01 ERROR boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)", 22, 80, false},
		{"2024-01-01 INFO ok", 80, 99, false},
		{"2024-01-01 WARN last\n  tail", 99, 127, false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLongEventsAreCut(t *testing.T) {
	text := "S one\n more more more\n more\nS two\n"
	got := run(New(regexp.MustCompile(`^S`), 10), text)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	if got[0].text != "S one\n mor" || !got[0].truncated || got[0].end != 28 {
		t.Errorf("first: %+v", got[0])
	}
	if got[1].text != "S two" || got[1].truncated {
		t.Errorf("second: %+v", got[1])
	}
}

func TestFlushedEventSurvivesNextAdd(t *testing.T) {
	a := New(regexp.MustCompile(`^S`), 100)
	a.Add(lines.Line{Bytes: []byte("S a"), Start: 0, End: 4})
	a.Add(lines.Line{Bytes: []byte("cont"), Start: 4, End: 9})
	ev, ok := a.Add(lines.Line{Bytes: []byte("S b"), Start: 9, End: 13})
	if !ok || string(ev.Bytes) != "S a\ncont" {
		t.Fatalf("%q %v", ev.Bytes, ok)
	}
	if !a.Pending() {
		t.Fatal("second event not pending")
	}
	if string(ev.Bytes) != "S a\ncont" {
		t.Fatalf("returned event overwritten: %q", ev.Bytes)
	}
}
