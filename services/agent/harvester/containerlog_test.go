package harvester

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

var dockerT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// dockerLine is one json-file line of the driver: log written at t0+sec.
func dockerLine(stream, log string, sec int) string {
	b, _ := json.Marshal(map[string]string{"log": log, "stream": stream,
		"time": dockerT0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)})
	return string(b) + "\n"
}

// A json-file log: envelopes decoded, CRLF stripped, partial lines joined
// (also across a restart that came between their parts), each batch of one
// stream labelled with it, the engine's time as the read time; every line
// acknowledged once.
func TestDockerJSONFileInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "c-json.log")
	r1 := routertest.Start(t)
	cfg := testConfig(dir, r1.Addr())
	cfg.Inputs[0].Format = "docker"
	cfg.Inputs[0].Labels = map[string]string{"container.name": "web"}

	var text string
	var want []string
	streamOf := map[string]string{}
	secOf := map[string]int{}
	sec := 0
	add := func(stream, msg, raw string) {
		text += dockerLine(stream, raw, sec)
		want = append(want, msg)
		streamOf[msg], secOf[msg] = stream, sec
		sec++
	}
	for i := range 40 {
		stream := "stdout"
		if i%10 == 9 {
			stream = "stderr"
		}
		msg := line("c", i)
		if i%2 == 0 {
			add(stream, msg, msg+"\r\n") // written by a Windows-minded app
		} else {
			add(stream, msg, msg+"\n")
		}
	}
	long := line("long", 1) + line("long", 2) + line("long", 3)
	text += dockerLine("stdout", line("long", 1), sec) + dockerLine("stdout", line("long", 2), sec+1) + dockerLine("stdout", line("long", 3)+"\n", sec+2)
	want = append(want, long)
	streamOf[long], secOf[long] = "stdout", sec
	sec += 3
	appendText(t, path, text)

	// The first part of a line; the harvester stops before the rest.
	split := line("split", 1) + line("split", 2)
	appendText(t, path, dockerLine("stderr", line("split", 1), sec))
	streamOf[split], secOf[split] = "stderr", sec
	run1 := start(t, cfg)
	r1.WaitAckedLines(t, len(want), 20*time.Second)
	run1.stop(t)
	appendText(t, path, dockerLine("stderr", line("split", 2)+"\n", sec+1))
	want = append(want, split)

	r2 := routertest.Start(t)
	cfg.Routers = []string{r2.Addr()}
	start(t, cfg)
	got := exactlyOnce(t, want, r1, r2)
	for _, l := range got {
		if want := dockerT0.Add(time.Duration(secOf[string(l.Line)]) * time.Second); !l.ReadTime.AsTime().Equal(want) {
			t.Errorf("line %q: read time %v, want the engine's %v", l.Line, l.ReadTime.AsTime(), want)
		}
	}
	for _, b := range append(r1.Acked(), r2.Acked()...) {
		for _, l := range lineblock.Lines(b) {
			if s := b.Labels[StreamLabel]; s != streamOf[string(l.Line)] {
				t.Errorf("line %q in a batch of stream %q, want %q", l.Line, s, streamOf[string(l.Line)])
			}
		}
		if b.Labels["container.name"] != "web" {
			t.Errorf("batch labels %v", b.Labels)
		}
	}
	if n := r2.AckedLineCount(); n != 1 {
		t.Errorf("second run acknowledged %d lines, want 1 (the line split by the restart)", n)
	}
}
