package parse

import (
	"errors"
	"strings"
	"testing"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func TestProcessors(t *testing.T) {
	eq := func(f, v string) *routingv1.Condition {
		return &routingv1.Condition{Field: f, Op: routingv1.Condition_OP_EQUALS, Value: v}
	}
	p, err := New(&routingv1.Parser{Format: routingv1.Parser_FORMAT_LOGFMT, Processors: []*routingv1.Processor{
		{Op: routingv1.Processor_OP_DROP, When: eq("path", "/healthz")},
		{Op: routingv1.Processor_OP_RENAME, Field: "sev", To: "log.level"},
		{Op: routingv1.Processor_OP_MAP, Field: "log.level", Mapping: map[string]string{"D": "debug", "E": "error"}},
		{Op: routingv1.Processor_OP_LOWERCASE, Field: "method"},
		{Op: routingv1.Processor_OP_COPY, Field: "path", To: "url.path"},
		{Op: routingv1.Processor_OP_REMOVE, Field: "secret"},
		{Op: routingv1.Processor_OP_SET, Field: "event.kind", Value: "alert", When: eq("log.level", "error")},
		{Op: routingv1.Processor_OP_SET, Field: "service.name", Value: "api"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, p.Steps())
	count := func(i int) { counts[i]++ }
	e := p.Parse(Input{Line: []byte(`msg=hi sev=E method=GET path=/x secret=s3`), ReadTime: readTime})
	if !p.Process(e, count) {
		t.Fatal("dropped")
	}
	f := e.Fields.AsMap()
	if e.Level != "error" || f["method"] != "get" || f["url.path"] != "/x" || f["path"] != "/x" || f["secret"] != nil || f["sev"] != nil || f["event.kind"] != "alert" || e.Service != "api" {
		t.Errorf("processed: level %q service %q fields %v", e.Level, e.Service, f)
	}
	health := p.Parse(Input{Line: []byte(`path=/healthz sev=D`), ReadTime: readTime})
	if p.Process(health, count) {
		t.Error("a /healthz line was kept")
	}
	if want := []int{1, 1, 1, 1, 1, 1, 1, 1}; !equalInts(counts, want) {
		t.Errorf("step counts %v, want %v", counts, want)
	}
	if p.StepName(2) != "2:map" {
		t.Errorf("StepName(2) = %q", p.StepName(2))
	}
	for _, c := range []struct {
		steps []*routingv1.Processor
		field string
		msg   string
	}{
		{[]*routingv1.Processor{{Op: routingv1.Processor_OP_DROP}}, "processors[0].when", "required"},
		{[]*routingv1.Processor{{Op: routingv1.Processor_OP_RENAME, Field: "a"}}, "processors[0].to", "required"},
		{[]*routingv1.Processor{{Op: routingv1.Processor_OP_SET, Field: "a"}, {Op: routingv1.Processor_OP_SET, Field: "@timestamp"}}, "processors[1].field", "belongs to the event model"},
		{[]*routingv1.Processor{{Op: routingv1.Processor_OP_MAP, Field: "a"}}, "processors[0].mapping", "required"},
		{[]*routingv1.Processor{{Op: routingv1.Processor_OP_REMOVE, Field: "a", When: &routingv1.Condition{Field: "x", Op: routingv1.Condition_OP_MATCHES, Value: "("}}}, "processors[0].when.value", "missing closing )"},
		{[]*routingv1.Processor{{Op: 99}}, "processors[0].op", "must be"},
		{make([]*routingv1.Processor, MaxProcessors+1), "processors", "at most 64"},
	} {
		_, err := New(&routingv1.Parser{Processors: c.steps})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: %v; want a %s error containing %q", c.steps, err, c.field, c.msg)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
