package harvester

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/fingerprint"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

func TestShipsLinesWithTheirSource(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Parser = "json"
	cfg.Inputs[0].Labels = map[string]string{"env": "test"}
	path := filepath.Join(dir, "logs", "a.log")
	appendLines(t, path, "a", 1, 500)
	run := start(t, cfg)
	exactlyOnce(t, lineRange("a", 1, 500), r)
	appendLines(t, path, "a", 501, 1000) // tailing
	got := exactlyOnce(t, lineRange("a", 1, 1000), r)

	data, _ := os.ReadFile(path)
	id := fingerprint.ID(data[:testFingerprint])
	for _, l := range got {
		src := l.Source
		if src.Host != "test-host" || src.FilePath != path || src.FileId != id {
			t.Fatalf("source %v, want host test-host, path %s, id %s", src, path, id)
		}
		end := src.Offset + int64(len(l.Line))
		if !bytes.Equal(data[src.Offset:end], l.Line) || data[end] != '\n' {
			t.Fatalf("offset %d does not point at line %q", src.Offset, l.Line)
		}
		if l.ReadTime == nil || l.Truncated {
			t.Fatalf("line %q: read time %v, truncated %v", l.Line, l.ReadTime, l.Truncated)
		}
	}
	for _, b := range r.Acked() {
		if b.Dataset != "app.log" || b.Labels["env"] != "test" || b.Labels[ParserLabel] != "json" || lineblock.Count(b) > 50 {
			t.Fatalf("batch dataset %q labels %v with %d lines", b.Dataset, b.Labels, lineblock.Count(b))
		}
	}
	polltest.True(t, "the registry to hold the file's end", 10*time.Second, func() bool {
		return loadRegistry(t, cfg)[id].Offset == int64(len(data))
	})
	m := run.h.m
	if n := testutil.ToFloat64(m.linesRead.WithLabelValues("app")); n != 1000 {
		t.Errorf("lines read %v", n)
	}
	if n := testutil.ToFloat64(m.bytesRead.WithLabelValues("app")); n != float64(len(data)) {
		t.Errorf("bytes read %v, want %d", n, len(data))
	}
	if n := testutil.ToFloat64(m.batchesAcked.WithLabelValues("app")); n != float64(len(r.Acked())) {
		t.Errorf("batches acked %v, router acked %d", n, len(r.Acked()))
	}
	if n := testutil.CollectAndCount(m.ackLatency); n != 1 {
		t.Errorf("ack latency series %d", n)
	}
	if n := testutil.ToFloat64(m.registryFiles); n != 1 {
		t.Errorf("registry files %v", n)
	}
}

func TestShortFileWaitsForItsFingerprint(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	path := filepath.Join(dir, "logs", "a.log")
	appendText(t, path, "short\n")
	start(t, cfg)
	time.Sleep(200 * time.Millisecond)
	if n := r.ReceivedLineCount(); n != 0 {
		t.Fatalf("%d lines shipped from a file shorter than the fingerprint", n)
	}
	appendLines(t, path, "a", 1, 10)
	exactlyOnce(t, append([]string{"short"}, lineRange("a", 1, 10)...), r)
}

// Rename rotation: app.log is renamed while its writer still appends to it,
// and a new app.log starts. Both whether or not a pattern matches the
// rotated name, every line arrives once.
func TestRenameRotation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string
	}{
		{"rotated name not matched", "app.log"},
		{"rotated name matched", "app.log*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := routertest.Start(t)
			cfg := testConfig(dir, r.Addr())
			cfg.Inputs[0].Paths = []string{filepath.Join(dir, "logs", tc.pattern)}
			cfg.CloseInactive = 500 * time.Millisecond
			logPath := filepath.Join(dir, "logs", "app.log")
			rotated := logPath + ".1"
			appendLines(t, logPath, "old", 1, 100)
			run := start(t, cfg)
			exactlyOnce(t, lineRange("old", 1, 100), r)

			appendLines(t, logPath, "old", 101, 150)
			if err := os.Rename(logPath, rotated); err != nil {
				t.Fatal(err)
			}
			appendLines(t, rotated, "old", 151, 170) // the writer has not reopened yet
			appendLines(t, logPath, "new", 1, 100)
			got := exactlyOnce(t, append(lineRange("old", 1, 170), lineRange("new", 1, 100)...), r)

			// Both files are closed once inactive; a scan reopens the one
			// that grows.
			polltest.True(t, "inactive files to be closed", 10*time.Second, func() bool {
				return testutil.ToFloat64(run.h.m.openFiles) == 0
			})
			appendLines(t, logPath, "new", 101, 110)
			exactlyOnce(t, append(lineRange("old", 1, 170), lineRange("new", 1, 110)...), r)

			ids := map[string]map[string]bool{}
			for _, l := range got {
				tag := strings.Fields(string(l.Line))[0]
				if ids[tag] == nil {
					ids[tag] = map[string]bool{}
				}
				ids[tag][l.Source.FileId] = true
			}
			if len(ids["old"]) != 1 || len(ids["new"]) != 1 {
				t.Fatalf("file ids per content: %v", ids)
			}
		})
	}
}

// copyFile copies src to dst as copytruncate does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Copytruncate: app.log is copied to app.log.1 and truncated; the lines
// written between the last read and the copy are read from the copy.
func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(dir, "logs", "app.log*")}
	logPath := filepath.Join(dir, "logs", "app.log")
	appendLines(t, logPath, "old", 1, 100)
	start(t, cfg)
	exactlyOnce(t, lineRange("old", 1, 100), r)

	appendLines(t, logPath, "old", 101, 150)
	copyFile(t, logPath, logPath+".1")
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, logPath, "new", 1, 80)
	exactlyOnce(t, append(lineRange("old", 1, 150), lineRange("new", 1, 80)...), r)
}

// Copytruncate while the reader is paused by backpressure, with the new
// content growing past the old read position before the reader looks again:
// the reader must not take the new bytes for the old file's continuation.
func TestCopyTruncateWhilePaused(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	r.Stall()
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(dir, "logs", "app.log*")}
	cfg.Window = 1
	cfg.Batch.MaxLines = 10
	logPath := filepath.Join(dir, "logs", "app.log")
	appendLines(t, logPath, "old", 1, 200)
	run := start(t, cfg)
	polltest.True(t, "reading to pause", 10*time.Second, func() bool {
		return testutil.ToFloat64(run.h.m.linesRead.WithLabelValues("app")) == 20
	})

	copyFile(t, logPath, logPath+".1")
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, logPath, "new", 1, 1000) // far past the old end
	r.Resume()
	exactlyOnce(t, append(lineRange("old", 1, 200), lineRange("new", 1, 1000)...), r)
}

// Deletion: a file deleted while its reader is paused (and longer than the
// read buffer) is still read to its end through the open descriptor, last
// line without newline included; its registry entry goes after ForgetAfter.
func TestDeletedFileIsReadToItsEnd(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	r.Stall()
	cfg := testConfig(dir, r.Addr())
	cfg.ForgetAfter = 300 * time.Millisecond
	cfg.Window = 1
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 5000) // 250 KB, several read buffers
	appendText(t, path, "a last line without newline")
	data, _ := os.ReadFile(path)
	id := fingerprint.ID(data[:testFingerprint])
	run := start(t, cfg)
	polltest.True(t, "reading to pause", 10*time.Second, func() bool {
		return testutil.ToFloat64(run.h.m.linesRead.WithLabelValues("app")) > 0 && r.ReceivedLineCount() > 0
	})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.Resume()
	exactlyOnce(t, append(lineRange("a", 1, 5000), "a last line without newline"), r)
	polltest.True(t, "the file to be closed", 10*time.Second, func() bool { return testutil.ToFloat64(run.h.m.openFiles) == 0 })
	polltest.True(t, "the registry entry to be forgotten", 10*time.Second, func() bool {
		_, ok := loadRegistry(t, cfg)[id]
		return !ok
	})
}

// Inode reuse, live: a file is read, closed and deleted; a new, longer file
// gets the same inode. It is a new file, read from its first line.
func TestInodeReuseIsANewFile(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.CloseInactive = 100 * time.Millisecond
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "first", 1, 100)
	run := start(t, cfg)
	exactlyOnce(t, lineRange("first", 1, 100), r)
	polltest.True(t, "the file to be closed", 10*time.Second, func() bool { return testutil.ToFloat64(run.h.m.openFiles) == 0 })

	oldIno := inode(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "second", 1, 150)
	if ino := inode(t, path); ino != oldIno {
		t.Logf("the file system gave inode %d, not %d: the registry case below covers reuse", ino, oldIno)
	} else {
		t.Logf("inode %d reused", ino)
	}
	exactlyOnce(t, append(lineRange("first", 1, 100), lineRange("second", 1, 150)...), r)
}

// Inode reuse across a restart, as Filebeat's registry met it: the registry
// holds an entry for this very device and inode at a large offset, left by
// another file. The file is read from 0.
func TestInodeInRegistryFromAnotherFile(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "new", 1, 150)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	old := offsets.Entry{ID: fingerprint.ID([]byte(strings.Repeat("o", testFingerprint))), Input: "app",
		Path: path, Offset: 3000, Dev: uint64(st.Dev), Ino: st.Ino}
	if err := (offsets.Store{Path: cfg.Registry, FingerprintBytes: testFingerprint}).Save([]offsets.Entry{old}); err != nil {
		t.Fatal(err)
	}
	start(t, cfg)
	exactlyOnce(t, lineRange("new", 1, 150), r)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func gzipLines(t *testing.T, tag string, from, to int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := from; i <= to; i++ {
		zw.Write([]byte(line(tag, i) + "\n"))
	}
	zw.Close()
	return b.Bytes()
}

// .gz files are read once, fully, and never again: not when touched, not
// after a restart. One smaller than the fingerprint is read once complete;
// one still being written is finished when it is complete.
func TestGzipFilesAreReadOnce(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(dir, "logs", "*.gz")}
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	small := gzipLines(t, "small", 1, 1)
	if len(small) >= testFingerprint {
		t.Fatalf("small gz is %d bytes", len(small))
	}
	os.WriteFile(filepath.Join(logs, "small.gz"), small, 0o644)
	os.WriteFile(filepath.Join(logs, "big.gz"), gzipLines(t, "big", 1, 3000), 0o644)
	growing := gzipLines(t, "growing", 1, 3000)
	os.WriteFile(filepath.Join(logs, "growing.gz"), growing[:len(growing)/2], 0o644)
	run := start(t, cfg)
	r.WaitAckedLines(t, 3001, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	appendText(t, filepath.Join(logs, "growing.gz"), string(growing[len(growing)/2:]))
	want := append(append(lineRange("small", 1, 1), lineRange("big", 1, 3000)...), lineRange("growing", 1, 3000)...)
	exactlyOnce(t, want, r)

	polltest.True(t, "every .gz to be done in the registry", 10*time.Second, func() bool {
		reg := loadRegistry(t, cfg)
		done := 0
		for _, e := range reg {
			if e.Done {
				done++
			}
		}
		return done == 3
	})
	now := time.Now()
	os.Chtimes(filepath.Join(logs, "big.gz"), now, now)
	time.Sleep(100 * time.Millisecond)
	run.stop(t)
	checkExactlyOnce(t, r.AckedLines(), want)

	r2 := routertest.Start(t)
	cfg.Routers = []string{r2.Addr()}
	start(t, cfg)
	time.Sleep(300 * time.Millisecond)
	if n := r2.ReceivedLineCount(); n != 0 {
		t.Fatalf("%d lines of read .gz files shipped again after a restart", n)
	}
}

// A file rotated and compressed while the agent is down (app.log →
// app.log.1 → app.log.1.gz): the .gz is the same file by its content, so
// the next run reads in it only what the first did not, then the new app.log.
func TestCompressedWhileDownResumes(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	r1 := routertest.Start(t)
	cfg := testConfig(dir, r1.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(logs, "app.log*")}
	appendLines(t, filepath.Join(logs, "app.log"), "a", 1, 200)
	run1 := start(t, cfg)
	exactlyOnce(t, lineRange("a", 1, 200), r1)
	run1.stop(t)

	appendLines(t, filepath.Join(logs, "app.log"), "a", 201, 500)
	plain, err := os.ReadFile(filepath.Join(logs, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	os.WriteFile(filepath.Join(logs, "app.log.1.gz"), gz.Bytes(), 0o644)
	os.Remove(filepath.Join(logs, "app.log"))
	appendLines(t, filepath.Join(logs, "app.log"), "b", 1, 100)

	r2 := routertest.Start(t)
	cfg.Routers = []string{r2.Addr()}
	start(t, cfg)
	exactlyOnce(t, append(append(lineRange("a", 1, 200), lineRange("a", 201, 500)...), lineRange("b", 1, 100)...), r1, r2)
	if n := r2.AckedLineCount(); n != 400 {
		t.Errorf("second run acknowledged %d lines, want 400 (300 from the .gz, 100 new)", n)
	}
}

// A .gz the registry knows by its compressed bytes (before identities came
// from the content) keeps that identity: read already, it is not read again.
func TestGzipLegacyIdentity(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	data := gzipLines(t, "old", 1, 500)
	path := filepath.Join(logs, "old.gz")
	os.WriteFile(path, data, 0o644)
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(logs, "*.gz")}
	os.MkdirAll(filepath.Dir(cfg.Registry), 0o755)
	legacy := fingerprint.ID(data[:testFingerprint])
	if err := (offsets.Store{Path: cfg.Registry, FingerprintBytes: testFingerprint}).Save([]offsets.Entry{
		{ID: legacy, Input: "app", Path: path, Offset: int64(len(lineRange("old", 1, 1)[0])+1) * 500, Done: true}}); err != nil {
		t.Fatal(err)
	}
	start(t, cfg)
	time.Sleep(300 * time.Millisecond)
	if n := r.ReceivedLineCount(); n != 0 {
		t.Fatalf("%d lines of a .gz read before were shipped again", n)
	}
	if reg := loadRegistry(t, cfg); len(reg) != 1 || !reg[legacy].Done {
		t.Fatalf("registry %+v, want the one legacy entry, done", reg)
	}
}
