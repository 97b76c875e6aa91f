package embedded

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/conformance"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// TestWordTokensAreWords: the ASCII pass gives the tokens of query.Words.
func TestWordTokensAreWords(t *testing.T) {
	const alphabet = "aZ9_.'- /:\"x0Q"
	r := rand.New(rand.NewPCG(1, 2))
	cases := []string{"", "a", "api.example.com", "10.0.0.1", "don't", "a..b", ".a.", "O'Brien", "x_y", "_", "a'", "zürich café"}
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var want []string
		for _, w := range query.Words(s) {
			want = append(want, token(w))
		}
		if got := string(appendWordTokens(nil, s)); got != strings.Join(want, " ") {
			t.Fatalf("%q: %q, want %q", s, got, strings.Join(want, " "))
		}
	}
}

// TestTokenIsPrefixFree: distinct values are distinct tokens, and a value's
// token starts with another's exactly when the value starts with it.
func TestTokenIsPrefixFree(t *testing.T) {
	vs := []string{"a", "a_", "a_5f_", "_", "5f", "ab", "a b", "a.b", "é", "e", "東京", "東"}
	for _, a := range vs {
		for _, b := range vs {
			if (token(a) == token(b)) != (a == b) {
				t.Errorf("token(%q)=%q token(%q)=%q", a, token(a), b, token(b))
			}
			if strings.HasPrefix(token(a), token(b)) != strings.HasPrefix(a, b) {
				t.Errorf("prefix: %q %q -> %q %q", a, b, token(a), token(b))
			}
		}
	}
}

// rowOf is the row of a document, without its source (sorted).
func rowOf(t *testing.T, d index.Doc) []string {
	t.Helper()
	var rb rowBuilder
	o, _, err := rb.parse(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range rb.build(d.ID, d.Source, o) {
		if f.Name != colSource {
			out = append(out, f.Name+"="+f.Value)
		}
	}
	slices.Sort(out)
	return out
}

// TestRowReadsAsEncodingJSON: a row is built from the document's JSON as
// encoding/json (which query.Matches's documents come from) reads it —
// the conformance documents, and JSON the two parsers could read
// differently: repeated keys, invalid UTF-8, escaped surrogates, control
// characters, numbers outside JSON's grammar or float64's range, values
// that are not objects.
func TestRowReadsAsEncodingJSON(t *testing.T) {
	srcs := []string{
		`{"message":"a","message":"b","host":{"name":"x"},"host":{"name":"y"}}`,
		`{"message":"caf` + "\xe9" + ` ok","user":{"name":"` + "\xff" + `"}}`,
		`{"message":"\ud800 lone","x":"\uD83D\uDE00 pair"}`,
		`{"message":"tab	inside"}`,
		`{"message":"big","n":1e400}`,
		`{"message":"lead","n":01}`,
		`{"message":"plus","n":+1}`,
		`{"message":"nan","n":NaN}`,
		`[1,2]`,
		`not json at all`,
		`{"z":"\u00e9t\u00e9 \/ \"q\"","message":"K\u00f6ln\n2","m":{"b":1,"a":[1.50,2E2,"x y"]},"data_stream.dataset":"flat"}`,
		`{"message":"fine","n":-0.5e-3,"tags":["a",1,true,{"k":"v"}],"labels":{"env":"prod"}}`,
	}
	var docs []index.Doc
	for i, s := range srcs {
		docs = append(docs, index.Doc{ID: fmt.Sprint("odd-", i), Source: []byte(s)})
	}
	docs = append(docs, conformance.Events()...)
	for _, d := range docs {
		var fields map[string]any
		if json.Unmarshal(d.Source, &fields) != nil {
			fields = map[string]any{"message": string(d.Source)}
		}
		canon, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		want := rowOf(t, index.Doc{ID: d.ID, Source: canon})
		for _, in := range []index.Doc{{ID: d.ID, Source: d.Source}, {ID: d.ID, Source: d.Source, Fields: d.Fields}} {
			if got := rowOf(t, in); !slices.Equal(got, want) {
				t.Errorf("%s: row\n%q\nwant (as encoding/json reads it)\n%q", d.Source, got, want)
			}
		}
	}
}
