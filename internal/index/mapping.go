package index

import (
	_ "embed"
	"encoding/json"
)

// mappingJSON is the one document mapping, in OpenSearch's terms; the
// embedded engine indexes the same way (see package query for the fields'
// classes, which this mapping must agree with — a test holds them together):
//
//   - message and error.message are text: Unicode words, lower case
//     (OpenSearch's standard analyzer);
//   - @timestamp and event.ingested are dates with nanoseconds;
//   - every other string, and every boolean ("true"/"false"), is one exact
//     term, not indexed beyond query.MaxKeyword characters, and also copied
//     to hindsight.keywords, which a bare word searches besides the message
//     (as Kibana's default "*" field does);
//   - every JSON number is a double (log.offset a long), so 500 and 500.5
//     compare as numbers in every index.
//
// Dates are never guessed from strings (date_detection off): a parsed field
// is a date on no backend unless the model says so.
//
//go:embed mapping.json
var mappingJSON []byte

// Mappings is the "mappings" object of every index Hindsight writes.
func Mappings() json.RawMessage { return mappingJSON }

// TemplateName is the composable index template installed for the daily
// indices (LivePattern). Its priority (200) is above Elasticsearch's
// built-in logs-*-* data stream template, so daily indices stay plain
// indices.
const TemplateName = "hindsight-logs"

// Template is the index template of the daily indices.
func Template() []byte {
	b, _ := json.Marshal(map[string]any{
		"index_patterns": []string{LivePattern},
		"priority":       200,
		"_meta":          map[string]any{"managed_by": "hindsight"},
		"template":       map[string]any{"mappings": Mappings()},
	})
	return b
}

// IndexBody is the body creating one standalone index (a replay's): one
// shard, no replica (a replay is a disposable copy of the archive).
func IndexBody() []byte {
	b, _ := json.Marshal(map[string]any{
		"settings": map[string]any{"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
		"mappings": Mappings(),
	})
	return b
}
