package opensearch

import (
	"encoding/json"
	"testing"

	"github.com/hindsight-dev/hindsight/services/replay/query"
)

func TestToDSL(t *testing.T) {
	for q, want := range map[string]string{
		"":                                `{"match_all":{}}`,
		"Timeout":                         `{"bool":{"minimum_should_match":1,"should":[{"match":{"message":{"operator":"and","query":"Timeout"}}},{"match":{"hindsight.keywords":{"lenient":true,"query":"Timeout"}}}]}}`,
		`message:"connection reset"`:      `{"match_phrase":{"message":"connection reset"}}`,
		"log.level:error":                 `{"match":{"log.level":{"lenient":true,"query":"error"}}}`,
		"message:Conn*":                   `{"wildcard":{"message":{"value":"conn*"}}}`,
		"code:[500 TO 599}":               `{"range":{"code":{"gte":"500","lt":"599"}}}`,
		"bytes:>10":                       `{"range":{"bytes":{"gt":"10"}}}`,
		"message:a OR NOT service.name:x": `{"bool":{"minimum_should_match":1,"should":[{"match":{"message":{"operator":"and","query":"a"}}},{"bool":{"must_not":[{"match":{"service.name":{"lenient":true,"query":"x"}}}]}}]}}`,
		"message:(a b)":                   `{"bool":{"filter":[{"match":{"message":{"operator":"and","query":"a"}}},{"match":{"message":{"operator":"and","query":"b"}}}]}}`,
	} {
		n, err := query.Parse(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		b, _ := json.Marshal(ToDSL(n))
		if string(b) != want {
			t.Errorf("%q:\n got %s\nwant %s", q, b, want)
		}
	}
}
