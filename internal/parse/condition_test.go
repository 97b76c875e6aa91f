package parse

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
)

func TestValues(t *testing.T) {
	fields, _ := structpb.NewStruct(map[string]any{"n": 1.5, "b": true, "l": []any{"x", 2}, "o": map[string]any{"k": "v"}, "z": nil})
	e := &eventv1.Event{
		Message: "m", Level: "info", Service: "api", Dataset: "web", Tags: []string{"t1", "t2"},
		Source: &eventv1.Source{Host: "h", FilePath: "/p"}, Labels: map[string]string{"k": "v"}, Fields: fields,
	}
	for field, want := range map[string][]string{
		"message": {"m"}, "log.level": {"info"}, "service.name": {"api"}, "data_stream.dataset": {"web"},
		"host.name": {"h"}, "log.file.path": {"/p"}, "tags": {"t1", "t2"}, "labels.k": {"v"}, "labels.x": nil,
		"n": {"1.5"}, "b": {"true"}, "l": {"x", "2"}, "o": nil, "z": nil, "missing": nil,
	} {
		if got := Values(e, field); !slices.Equal(got, want) {
			t.Errorf("Values(%s) = %q, want %q", field, got, want)
		}
	}
}
