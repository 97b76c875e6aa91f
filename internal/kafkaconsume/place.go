package kafkaconsume

import (
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/event"
)

// Place tells where a record's event belongs: its dataset and @timestamp.
// The router sets both as headers so consumers need not decode the document;
// for records without them (other producers) they are read from the document,
// and failing that the record's own timestamp is used.
func Place(r *kgo.Record) (dataset string, t time.Time) {
	for _, h := range r.Headers {
		switch h.Key {
		case event.HeaderDataset:
			dataset = string(h.Value)
		case event.HeaderTime:
			if ts, err := event.ParseTime(string(h.Value)); err == nil {
				t = ts
			}
		}
	}
	if dataset == "" || t.IsZero() {
		var d struct {
			Timestamp  string `json:"@timestamp"`
			DataStream struct {
				Dataset string `json:"dataset"`
			} `json:"data_stream"`
		}
		if json.Unmarshal(r.Value, &d) == nil {
			if dataset == "" {
				dataset = d.DataStream.Dataset
			}
			if ts, err := event.ParseTime(d.Timestamp); t.IsZero() && err == nil {
				t = ts
			}
		}
	}
	if t.IsZero() {
		t = r.Timestamp
	}
	return dataset, t.UTC()
}
