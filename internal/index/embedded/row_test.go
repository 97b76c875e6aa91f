package embedded

import (
	"math/rand/v2"
	"strings"
	"testing"

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
		var b strings.Builder
		wordTokens(&b, s)
		if got := b.String(); got != strings.Join(want, " ") {
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
