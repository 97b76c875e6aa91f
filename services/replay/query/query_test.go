package query

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Node
	}{
		{"", nil},
		{"timeout", Match{Field: AnyField, Value: "timeout"}},
		{`"connection reset"`, Match{Field: AnyField, Value: "connection reset", Phrase: true}},
		{"log.level:error api*", And{[]Node{Match{Field: "log.level", Value: "error"}, Match{Field: AnyField, Value: "api*", Wildcard: true}}}},
		{"a OR b AND NOT c", Or{[]Node{Match{Field: AnyField, Value: "a"}, And{[]Node{Match{Field: AnyField, Value: "b"}, Not{Match{Field: AnyField, Value: "c"}}}}}}},
		{"-x", Not{Match{Field: AnyField, Value: "x"}}},
		{"code:[500 TO 599}", Range{Field: "code", Min: "500", Max: "599", IncMin: true}},
		{"bytes:>=10", Range{Field: "bytes", Min: "10", IncMin: true}},
		{"@timestamp:<2026-03-01T10:00:00Z", Range{Field: "@timestamp", Max: "2026-03-01T10:00:00Z"}},
		{"level:(error OR warn)", Or{[]Node{Match{Field: "level", Value: "error"}, Match{Field: "level", Value: "warn"}}}},
	} {
		got, err := Parse(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %#v, want %#v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`"open`, "a AND", "(a", "a)", "x:", "code:[1 2]", ":x", "bytes:>"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestMatches(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{"@timestamp":"2026-03-01T10:00:00.000000000Z","message":"GET api.example.com/x: Connection reset by peer",
		"log":{"level":"error"},"service":{"name":"api"},"http.response.status_code":503,"tags":["a","b"]}`), &doc); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]bool{
		"":                                       true,
		"connection":                             true,
		"Connection RESET":                       true,
		`"reset by peer"`:                        true,
		`"peer by reset"`:                        false,
		"example":                                false, // api.example.com is one word
		"api.example.com":                        true,
		"conn*":                                  true,
		"log.level:error":                        true,
		"log.level:ERROR":                        false, // exact
		"service.name:ap?":                       true,
		"http.response.status_code:503":          true,
		"http.response.status_code:[500 TO 599]": true,
		"http.response.status_code:>503":         false,
		"tags:b":                                 true,
		"missing:x":                              false,
		"NOT missing:x":                          true,
		"log.level:info OR service.name:api":     true,
		"log.level:info AND service.name:api":    false,
		"@timestamp:[2026-03-01 TO 2026-03-02]":  true,
		"@timestamp:<2026-03-01T10:00:00Z":       false,
		// A bare word is a word of the message or any exact value.
		"error":                              true,
		"ERROR":                              false,
		"message:error":                      false,
		"ap?":                                true,
		`"api"`:                              true,
		"503":                                false, // numbers are not exact values
		"http.response.status_code:503.0":    true,
		"http.response.status_code:50*":      false,
		"http.response.status_code:[a TO z]": false,
		"service.name:[a TO b]":              true,
	} {
		n, err := Parse(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if got := Matches(n, doc); got != want {
			t.Errorf("%q matches = %v, want %v", q, got, want)
		}
	}
}
