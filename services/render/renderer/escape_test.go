package renderer

import (
	"strings"
	"testing"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// haproxyWords splits a config line into words the way HAProxy 2.x's parser
// does for the subset haproxyQuote writes (single quotes, '\' outside quotes).
func haproxyWords(line string) []string {
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				w.WriteByte(c)
			}
		case c == '\'':
			quoted, in = true, true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case c == '#':
			return append(words, w.String()) // a comment ends the line
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

func TestHAProxyQuote(t *testing.T) {
	for in, want := range map[string]string{
		"5":               `'5'`,
		"":                `''`,
		"it's":            `'it'\''s'`,
		"a b #c $HOME \\": `'a b #c $HOME \'`,
	} {
		got, err := haproxyQuote(in)
		if err != nil || got != want {
			t.Errorf("haproxy %q = %q, %v; want %q", in, got, err, want)
		}
		if words := haproxyWords("server s1 10.0.0.1:80 weight " + got); len(words) != 5 || words[4] != in {
			t.Errorf("haproxy %q reads back as %q", in, words)
		}
	}
	// The payload of issue 12: a weight that adds a "program" section.
	for _, bad := range []string{
		"1\nglobal\n master-worker\nprogram x\n command /bin/sh -c \"id > /tmp/pwned\"",
		"1\r", "a\tb", "\x00", "x\u2028y", "\xff",
	} {
		if got, err := haproxyQuote(bad); err == nil {
			t.Errorf("haproxy %q = %q, want an error", bad, got)
		}
	}
}

// A member whose label holds a newline (written to etcd by something other
// than the registry, which refuses it) fails the render: nothing is written.
func TestMemberWithControlCharacterIsNotRendered(t *testing.T) {
	put := func(m *membershipv1.Member) *view {
		b, _ := protojson.Marshal(m)
		return &view{prefix: DefaultPrefix, kvs: map[string]string{DefaultPrefix + m.Service + "/" + m.Id: string(b)}}
	}
	tmpl := `{{range members "web"}}server {{sanitize .ID}} {{.Addr}}{{with .Label "weight" ""}} weight {{haproxy .}}{{end}}{{end}}`
	good := put(&membershipv1.Member{Service: "web", Id: "w1", Address: "10.0.0.1", Port: 80, Labels: map[string]string{"weight": "5"}})
	if out, err := execute(good, tmpl); err != nil || out != "server w1 10.0.0.1:80 weight '5'" {
		t.Fatalf("good member: %q, %v", out, err)
	}
	for _, m := range []*membershipv1.Member{
		{Service: "web", Id: "w1", Address: "10.0.0.1", Port: 80, Labels: map[string]string{"weight": "1\nprogram x"}},
		{Service: "web", Id: "w1", Address: "10.0.0.1", Port: 80, Labels: map[string]string{"a\nb": "1"}},
		{Service: "web", Id: "w1", Address: "10.0.0.1\n", Port: 80},
	} {
		if out, err := execute(put(m), tmpl); err == nil || !strings.Contains(err.Error(), "refusing to render") {
			t.Errorf("%v rendered: %q, %v", m, out, err)
		}
		// services and healthy refuse as members does.
		if _, err := execute(put(m), `{{services}}{{healthy "web"}}`); err == nil {
			t.Errorf("%v: services/healthy rendered", m)
		}
	}
}

// FuzzHAProxyQuote: any value either is refused or comes back from
// HAProxy's word splitting as exactly one word equal to itself, on one line.
func FuzzHAProxyQuote(f *testing.F) {
	for _, s := range []string{"5", "", "it's", "''", `\'`, "a b", "#", "$HOME", "${X}", `"x"`, "1\nglobal", "é", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := haproxyQuote(s)
		if err != nil {
			return
		}
		for _, r := range q {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("%q quoted as %q holds %U", s, q, r)
			}
		}
		if words := haproxyWords("x " + q); len(words) != 2 || words[1] != s {
			t.Fatalf("%q quoted as %q reads back as %q", s, q, words)
		}
	})
}
