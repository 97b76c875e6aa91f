package index

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// TestMappingAgreesWithTheQueryLanguage: the fields the query language
// matches by words, as dates, or as exact values are mapped that way.
func TestMappingAgreesWithTheQueryLanguage(t *testing.T) {
	var m struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(Mappings(), &m); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for k, raw := range props {
			var f struct {
				Type       string                     `json:"type"`
				CopyTo     string                     `json:"copy_to"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f.Properties != nil {
				walk(prefix+k+".", f.Properties)
				continue
			}
			types[prefix+k] = f.Type
			if f.Type == "keyword" && prefix+k != query.KeywordsField && f.CopyTo != query.KeywordsField {
				t.Errorf("%s is exact but not copied to %s", prefix+k, query.KeywordsField)
			}
		}
	}
	walk("", m.Properties)
	for f, typ := range types {
		switch {
		case query.IsText(f) != (typ == "text"):
			t.Errorf("%s is mapped %s, the query language says text=%v", f, typ, query.IsText(f))
		case query.IsDate(f) != (typ == "date_nanos"):
			t.Errorf("%s is mapped %s, the query language says date=%v", f, typ, query.IsDate(f))
		}
	}
	for _, f := range []string{"message", "error.message", "@timestamp", "event.ingested", query.KeywordsField} {
		if types[f] == "" {
			t.Errorf("%s is not mapped", f)
		}
	}
}

func TestDailyName(t *testing.T) {
	d := mustTime(t, "2015-10-21T23:59:59Z")
	for in, want := range map[string]string{"nginx.access": "logs-nginx.access-2015.10.21", "DB/slow": "logs-db_slow-2015.10.21", "": "logs-unknown-2015.10.21"} {
		if got := DailyName(in, d); got != want {
			t.Errorf("DailyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
