package query

import "unicode/utf8"

// The classes of fields, which every backend's mapping follows
// (internal/index holds the OpenSearch mapping and a test that it agrees).

// AnyField is the field of a clause that names none (a bare word): it
// matches when the message has the word, or any exact field has the whole
// value, as Kibana's default "*" field does: `error` finds log.level:error.
const AnyField = "*"

// DefaultTextField is the text field a bare word searches.
const DefaultTextField = "message"

// KeywordsField is where a backend indexes every exact value of a document
// (Keywords), for bare words.
const KeywordsField = "hindsight.keywords"

// MaxKeyword is the longest exact value indexed, in characters; a longer one
// is kept in the document but matches nothing (OpenSearch's ignore_above).
const MaxKeyword = 1024

// textFields are analysed (matched by words); every other field is exact.
var textFields = map[string]bool{"message": true, "error.message": true}

// dateFields are the model's dates; parsed fields are never taken for dates.
var dateFields = map[string]bool{"@timestamp": true, "event.ingested": true}

// IsText reports whether a field is matched by words rather than exactly.
func IsText(field string) bool { return textFields[field] }

// IsDate reports whether a field is a date.
func IsDate(field string) bool { return dateFields[field] }

// Indexable reports whether an exact value is short enough to be indexed.
func Indexable(s string) bool {
	return len(s) <= MaxKeyword || utf8.RuneCountInString(s) <= MaxKeyword
}

// Keywords appends to out the exact values of a decoded document: every
// string and boolean, at any depth and in lists, of a field that is neither
// text nor a date, and short enough to be indexed.
func Keywords(out []string, doc map[string]any) []string {
	return keywords(out, "", doc)
}

func keywords(out []string, prefix string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if prefix != "" {
				k = prefix + "." + k
			}
			out = keywords(out, k, c)
		}
	case []any:
		for _, c := range v {
			out = keywords(out, prefix, c)
		}
	case string:
		if !IsText(prefix) && !IsDate(prefix) && prefix != KeywordsField && Indexable(v) {
			out = append(out, v)
		}
	case bool:
		out = append(out, String(v))
	}
	return out
}
