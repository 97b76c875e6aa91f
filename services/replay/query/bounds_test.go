package query

import (
	"strings"
	"testing"
)

func TestBounds(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "a" + strings.Repeat(close, n)
	}
	for _, c := range []struct {
		name, in string
		ok       bool
		msg      string
	}{
		{"64 parentheses", nest("(", ")", MaxDepth), true, ""},
		{"65 parentheses", nest("(", ")", MaxDepth+1), false, "deeper than 64"},
		{"64 NOTs", strings.Repeat("NOT ", MaxDepth) + "a", true, ""},
		{"65 minus signs", strings.Repeat("-", MaxDepth+1) + "a", false, "deeper than 64"},
		{"field group", "f:" + nest("(", ")", MaxDepth+1), false, "deeper than 64"},
		{"mixed", strings.Repeat("(-", 33) + "a" + strings.Repeat(")", 33), false, "deeper than 64"},
		// Pluses add no level and no stack.
		{"many pluses", strings.Repeat("+", 10000) + "a", true, ""},
		{"at the length limit", strings.Repeat("a ", MaxLength/2), true, ""},
		{"over the length limit", strings.Repeat("a", MaxLength+1), false, "16385 bytes, at most 16384"},
		// The attack of issue 12 (4 MB of parentheses) is refused before lexing.
		{"4 MB of parentheses", nest("(", ")", 2<<20), false, "at most 16384"},
	} {
		_, err := Parse(c.in)
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%s: err = %v, want ok=%v containing %q", c.name, err, c.ok, c.msg)
		}
	}
}

// FuzzParse: no input panics or overflows the stack, and whatever parses
// can be matched. Seeds run on every test; `go test -fuzz=FuzzParse` explores.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "timeout", `"connection reset"`, "log.level:error api*", "a OR b AND NOT c", "-x",
		"code:[500 TO 599}", "bytes:>=10", "level:(error OR warn)", `f:"a\"b"`, "(((a)))",
		strings.Repeat("(", 100) + "a", strings.Repeat("-+", 50) + "a", "x:>", "[", `\`, "a:b:c",
	} {
		f.Add(s)
	}
	doc := map[string]any{"message": "a b c", "level": "error", "code": 503.0}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if len(s) > MaxLength {
			t.Fatalf("%d bytes parsed", len(s))
		}
		Matches(n, doc)
		if d := depth(n); d > 2*MaxDepth+1 {
			t.Fatalf("tree depth %d", d)
		}
	})
}

func depth(n Node) int {
	d := 0
	switch n := n.(type) {
	case And:
		for _, c := range n.Nodes {
			d = max(d, depth(c))
		}
	case Or:
		for _, c := range n.Nodes {
			d = max(d, depth(c))
		}
	case Not:
		d = depth(n.Node)
	}
	return d + 1
}
