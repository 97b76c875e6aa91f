package rules

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func cond(field string, op routingv1.Condition_Op, value string) *routingv1.Condition {
	return &routingv1.Condition{Field: field, Op: op, Value: value}
}

func TestTopics(t *testing.T) {
	datasets := map[string]*routingv1.Dataset{
		"web": {Name: "web", Topic: &routingv1.TopicSettings{Topic: "logs.web"}},
	}
	routes := map[string]*routingv1.Route{
		// Same priority as "b-5xx": the name decides, so "a-health" goes first.
		"a-health": {Name: "a-health", Dataset: "web", Topic: "logs.web.health", Priority: 5, Conditions: []*routingv1.Condition{
			cond("url.original", routingv1.Condition_OP_MATCHES, `^/healthz`),
		}},
		"b-5xx": {Name: "b-5xx", Dataset: "web", Topic: "logs.web.errors", Priority: 5, Copy: true, Conditions: []*routingv1.Condition{
			cond("http.response.status_code", routingv1.Condition_OP_MATCHES, `^5\d\d$`),
		}},
		"c-prod-bots": {Name: "c-prod-bots", Dataset: "web", Topic: "logs.web.bots", Priority: 7, Conditions: []*routingv1.Condition{
			cond("labels.env", routingv1.Condition_OP_EQUALS, "prod"),
			cond("user_agent.original", routingv1.Condition_OP_MATCHES, `(?i)bot`),
			cond("tags", routingv1.Condition_OP_NOT_EQUALS, "_parse_failure"),
		}},
		"d-untagged-errors": {Name: "d-untagged-errors", Dataset: "web", Topic: "logs.web.levelled", Priority: 9, Conditions: []*routingv1.Condition{
			cond("log.level", routingv1.Condition_OP_EXISTS, ""),
		}},
		"e-other-dataset": {Name: "e-other-dataset", Dataset: "gone", Topic: "x"},
	}
	table := Compile(datasets, routes, quiet)
	web := table.Dataset("web")
	if web == nil || table.Dataset("gone") != nil || table.Len() != 1 {
		t.Fatal("table has the wrong datasets")
	}
	ev := func(fields map[string]any, mod func(*eventv1.Event)) *eventv1.Event {
		s, err := structpb.NewStruct(fields)
		if err != nil {
			t.Fatal(err)
		}
		e := &eventv1.Event{Fields: s, Labels: map[string]string{"env": "prod"}}
		if mod != nil {
			mod(e)
		}
		return e
	}
	for _, c := range []struct {
		name string
		e    *eventv1.Event
		want []string
	}{
		{"no route matches", ev(map[string]any{"http.response.status_code": 200}, nil), []string{"logs.web"}},
		{"numbers compare as their decimal form; copy adds the dataset's topic", ev(map[string]any{"http.response.status_code": 503}, nil), []string{"logs.web.errors", "logs.web"}},
		{"equal priority: by name", ev(map[string]any{"url.original": "/healthz", "http.response.status_code": 500}, nil), []string{"logs.web.health"}},
		{"all conditions must hold", ev(map[string]any{"user_agent.original": "Googlebot/2.1"}, nil), []string{"logs.web.bots"}},
		{"a failing condition", ev(map[string]any{"user_agent.original": "Googlebot/2.1"}, func(e *eventv1.Event) { e.Labels["env"] = "dev" }), []string{"logs.web"}},
		{"not_equals on a list", ev(map[string]any{"user_agent.original": "bot"}, func(e *eventv1.Event) { e.Tags = []string{"_parse_failure"} }), []string{"logs.web"}},
		{"exists on the event's own field", ev(nil, func(e *eventv1.Event) { e.Level = "warn" }), []string{"logs.web.levelled"}},
	} {
		if got := web.Topics(c.e, nil); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBadEntriesDoNotLoseLines(t *testing.T) {
	table := Compile(map[string]*routingv1.Dataset{
		"bad": {Name: "bad", Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: "("}, Topic: &routingv1.TopicSettings{Topic: "logs.bad"}},
	}, map[string]*routingv1.Route{
		"bad-route": {Name: "bad-route", Dataset: "bad", Topic: "t", Conditions: []*routingv1.Condition{cond("message", routingv1.Condition_OP_MATCHES, "(")}},
	}, quiet)
	d := table.Dataset("bad")
	if d == nil || d.Parser == nil {
		t.Fatal("a dataset whose parser does not compile must still take lines (raw)")
	}
	if got := d.Topics(&eventv1.Event{Message: "("}, nil); !slices.Equal(got, []string{"logs.bad"}) {
		t.Errorf("a route that does not compile must be ignored: %v", got)
	}
}
