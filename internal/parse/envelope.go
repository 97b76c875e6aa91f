package parse

import (
	"encoding/json"
	"strings"
	"time"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// TagPartial marks a line a container runtime wrote as part of a longer one
// (CRI "P"), when nothing upstream joined it.
const TagPartial = "_partial"

// envelope is what a container runtime wrapped around a line.
type envelope struct {
	line    string
	stream  string    // stdout or stderr
	time    time.Time // when the runtime received the line
	partial bool
}

// unwrap removes the envelope the dataset's parser expects; ok is false when
// the line has none (it is then parsed as it is).
func unwrap(kind routingv1.Parser_Envelope, s string) (envelope, bool) {
	switch kind {
	case routingv1.Parser_ENVELOPE_DOCKER:
		return unwrapDocker(s)
	case routingv1.Parser_ENVELOPE_CRI:
		return unwrapCRI(s)
	case routingv1.Parser_ENVELOPE_AUTO:
		if strings.HasPrefix(s, "{") {
			return unwrapDocker(s)
		}
		return unwrapCRI(s)
	}
	return envelope{}, false
}

// unwrapDocker reads a json-file driver line:
// {"log":"GET / 200\n","stream":"stdout","time":"2015-10-21T16:29:00.000000001Z"}.
func unwrapDocker(s string) (envelope, bool) {
	if !strings.HasPrefix(s, `{"log":`) && !strings.Contains(s, `"log":`) {
		return envelope{}, false
	}
	var d struct {
		Log    *string `json:"log"`
		Stream string  `json:"stream"`
		Time   string  `json:"time"`
	}
	if err := json.Unmarshal([]byte(s), &d); err != nil || d.Log == nil {
		return envelope{}, false
	}
	e := envelope{line: *d.Log, stream: d.Stream}
	// The driver keeps the newline; a line without one was split (16 KiB).
	if l, ok := strings.CutSuffix(e.line, "\n"); ok {
		e.line = strings.TrimSuffix(l, "\r")
	} else {
		e.partial = true
	}
	e.time, _ = time.Parse(time.RFC3339Nano, d.Time)
	return e, true
}

// unwrapCRI reads a CRI (containerd, CRI-O) line: "TIME STREAM P|F LINE".
func unwrapCRI(s string) (envelope, bool) {
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return envelope{}, false
	}
	stream, rest, ok := strings.Cut(rest, " ")
	if !ok || stream != "stdout" && stream != "stderr" {
		return envelope{}, false
	}
	tag, line, _ := strings.Cut(rest, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return envelope{}, false
	}
	// The tag is P or F, possibly followed by more flags after ':'.
	flag, _, _ := strings.Cut(tag, ":")
	if flag != "P" && flag != "F" {
		return envelope{}, false
	}
	return envelope{line: line, stream: stream, time: t, partial: flag == "P"}, true
}
