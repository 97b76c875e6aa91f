package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-12-01T10:30:00Z":      time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC),
		"2026-12-01T10:30:00+01:00": time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC),
		"2026-12-01":                time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2h":                        now.Add(-2 * time.Hour),
		"-90m":                      now.Add(-90 * time.Minute),
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "12/01/2026", "1x"} {
		if _, err := parseTime(bad, now); err == nil {
			t.Errorf("parseTime(%q): no error", bad)
		}
	}
}

// overlay keeps what the file leaves out (the server's defaults), takes what it
// sets, and replaces lists whole.
func TestOverlay(t *testing.T) {
	cur := &routingv1.Dataset{Name: "app", Description: "old",
		Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, TimestampField: "ts"},
		Topic:  &routingv1.TopicSettings{Topic: "logs.app", Partitions: 1, Retention: durationpb.New(time.Hour)}}
	file := &routingv1.Dataset{Name: "app", Topic: &routingv1.TopicSettings{Partitions: 3, Retention: durationpb.New(2 * time.Hour)}}
	got := overlay(cur, file).(*routingv1.Dataset)
	want := &routingv1.Dataset{Name: "app", Description: "old",
		Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON, TimestampField: "ts"},
		Topic:  &routingv1.TopicSettings{Topic: "logs.app", Partitions: 3, Retention: durationpb.New(2 * time.Hour)}}
	if !proto.Equal(got, want) {
		t.Errorf("overlay = %v, want %v", got, want)
	}
	if !proto.Equal(overlay(want, file), want) {
		t.Error("overlaying the same file twice changes the result")
	}
	r := overlay(&routingv1.Route{Name: "r", Conditions: []*routingv1.Condition{{Field: "a"}, {Field: "b"}}},
		&routingv1.Route{Conditions: []*routingv1.Condition{{Field: "c"}}}).(*routingv1.Route)
	if len(r.Conditions) != 1 || r.Conditions[0].Field != "c" {
		t.Errorf("lists are replaced, not appended: %v", r.Conditions)
	}
}

func TestReadResourcesNamesTheFault(t *testing.T) {
	for doc, want := range map[string]string{
		"name: a\n":                                         "document 1: field kind: required",
		"kind: Dataset\n---\nkind: Pod\nname: x":            "document 1 (Dataset): field name: required",
		"kind: Route\nname: r\npriority: high\n":            "priority",
		"kind: Dataset\nname: a\n---\nkind: Pod\nname: x\n": `document 2: field kind: "Pod"`,
		"kind: [\n": "document 1",
	} {
		_, err := readResources([]string{"-"}, strings.NewReader(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", doc, err, want)
		}
	}
}

// Every command says how to use it by example, and completion scripts come out.
func TestHelpHasExamplesAndCompletion(t *testing.T) {
	root := (&app{}).rootCommand()
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" {
			t.Errorf("%s: no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Example == "" {
				t.Errorf("%s: no example", sub.CommandPath())
			}
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errw bytes.Buffer
		if code := Main(t.Context(), []string{"completion", sh}, nil, &out, &errw); code != 0 || !strings.Contains(out.String(), "hindsight") {
			t.Errorf("completion %s: exit %d, %d bytes, %s", sh, code, out.Len(), errw.String())
		}
	}
}
