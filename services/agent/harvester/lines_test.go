package harvester

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/fingerprint"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// Multiline: stack traces join their first line; the last event, which no
// next start line ends, is sent after the timeout while the file stays open.
func TestMultilineEvents(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Multiline = &Multiline{Start: `^\d{4}-\d\d-\d\d `, Timeout: 100 * time.Millisecond}
	path := filepath.Join(dir, "logs", "app.log")
	text := "2024-05-01 12:00:00 ERROR boom\n" +
		"java.lang.IllegalStateException: x\n" +
		"\tat a.b.C.d(C.java:10)\n" +
		"2024-05-01 12:00:01 INFO fine\n" +
		"2024-05-01 12:00:02 WARN last one\n" +
		"\tcontinued\n"
	appendText(t, path, text)
	start(t, cfg)
	want := []string{
		"2024-05-01 12:00:00 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.b.C.d(C.java:10)",
		"2024-05-01 12:00:01 INFO fine",
		"2024-05-01 12:00:02 WARN last one\n\tcontinued",
	}
	got := exactlyOnce(t, want, r)
	for _, l := range got {
		if off := strings.Index(text, string(l.Line)); int64(off) != l.Source.Offset {
			t.Errorf("event %q at offset %d, want %d", l.Line, l.Source.Offset, off)
		}
	}
	id := fingerprint.ID([]byte(text[:testFingerprint]))
	polltest.True(t, "the registry to reach the end", 10*time.Second, func() bool {
		return loadRegistry(t, cfg)[id].Offset == int64(len(text))
	})
}

// Oversized lines are cut and flagged; binary junk and invalid UTF-8 go as
// bytes; nothing crashes and the lines after them are intact.
func TestLongAndBinaryLines(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.MaxLineBytes = 100
	path := filepath.Join(dir, "logs", "app.log")
	long := strings.Repeat("z", 100_000)
	binary := "\x00\x01\xff\xfe\x80 junk \xc3\x28 \xed\xa0\x80"
	text := line("a", 1) + "\n" + long + "\n" + binary + "\n" + line("a", 2) + "\n"
	appendText(t, path, text)
	run := start(t, cfg)
	r.WaitAckedLines(t, 4, 10*time.Second)
	got := exactlyOnce(t, []string{line("a", 1), long[:100], binary, line("a", 2)}, r)
	for _, l := range got {
		if l.Truncated != (string(l.Line) == long[:100]) {
			t.Errorf("line %.20q truncated=%v", l.Line, l.Truncated)
		}
		if bytes.Equal(l.Line, []byte(line("a", 2))) && l.Source.Offset != int64(strings.Index(text, line("a", 2))) {
			t.Errorf("line after the long one at offset %d", l.Source.Offset)
		}
	}
	if n := testutil.ToFloat64(run.h.m.linesTruncated.WithLabelValues("app")); n != 1 {
		t.Errorf("truncated lines metric %v", n)
	}
}

// include_lines and exclude_lines filter events; the offset still reaches
// the end of the file, past the dropped lines.
func TestIncludeExcludeLines(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].IncludeLines = []string{`ERROR`, `WARN`}
	cfg.Inputs[0].ExcludeLines = []string{`healthcheck`}
	path := filepath.Join(dir, "logs", "app.log")
	text := "INFO starting the service with a long enough first line\n" +
		"ERROR disk full\n" +
		"WARN healthcheck slow\n" +
		"INFO request\n" +
		"WARN retrying\n" +
		"INFO trailing line\n"
	appendText(t, path, text)
	run := start(t, cfg)
	exactlyOnce(t, []string{"ERROR disk full", "WARN retrying"}, r)
	id := fingerprint.ID([]byte(text[:testFingerprint]))
	polltest.True(t, "the registry to reach the end past dropped lines", 10*time.Second, func() bool {
		return loadRegistry(t, cfg)[id].Offset == int64(len(text))
	})
	if n := testutil.ToFloat64(run.h.m.linesExcluded.WithLabelValues("app")); n != 4 {
		t.Errorf("excluded lines metric %v", n)
	}
	os.Remove(path)
}
