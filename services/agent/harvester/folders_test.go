package harvester

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// folderConfig harvests dir/inbox, one dataset per folder.
func folderConfig(dir string, routers ...string) Config {
	cfg := testConfig(dir, routers...)
	cfg.Inputs = []Input{{Name: "inbox", DatasetFolders: filepath.Join(dir, "inbox"), ScanInterval: 10 * time.Millisecond}}
	return cfg
}

// datasetsOf maps each acknowledged line to its batch's dataset, failing
// on a line acknowledged under two datasets.
func datasetsOf(t *testing.T, rs ...*routertest.Router) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rs {
		for _, b := range r.Acked() {
			for _, l := range lineblock.Lines(b) {
				if d, ok := out[string(l.Line)]; ok && d != b.Dataset {
					t.Fatalf("line %q acknowledged in datasets %s and %s", l.Line, d, b.Dataset)
				}
				out[string(l.Line)] = b.Dataset
			}
		}
	}
	return out
}

// A folder made while the harvester runs is a new dataset, read without a
// restart; a restart then resumes every folder, old and new, where it was:
// over both runs each line is acknowledged once, under its folder's dataset.
func TestDatasetFoldersPickedUpLive(t *testing.T) {
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	appendLines(t, filepath.Join(inbox, "app", "app.log"), "app", 1, 100)
	appendLines(t, filepath.Join(inbox, "Not A Dataset", "x.log"), "bad", 1, 10) // skipped
	appendLines(t, filepath.Join(inbox, "loose.log"), "loose", 1, 10)            // not in a folder
	r1 := routertest.Start(t)
	cfg := folderConfig(dir, r1.Addr())
	run1 := start(t, cfg)
	r1.WaitAckedLines(t, 100, 20*time.Second)

	// Three levels down, a new folder's files are found too.
	appendLines(t, filepath.Join(inbox, "web.access", "web.log"), "web", 1, 150)
	appendLines(t, filepath.Join(inbox, "web.access", "2026", "01", "old.log"), "web-old", 1, 50)
	want := append(lineRange("app", 1, 100), append(lineRange("web", 1, 150), lineRange("web-old", 1, 50)...)...)
	exactlyOnce(t, want, r1)
	if got := testutil.ToFloat64(run1.h.m.inputs); got != 2 {
		t.Errorf("inputs running: %v, want 2 (app, web.access)", got)
	}
	if got := testutil.ToFloat64(run1.h.m.linesRead.WithLabelValues("inbox/web.access")); got != 200 {
		t.Errorf("lines_read_total{input=inbox/web.access} = %v, want 200", got)
	}
	run1.stop(t)

	// While stopped: both folders grow and a third appears.
	appendLines(t, filepath.Join(inbox, "app", "app.log"), "app", 101, 130)
	appendLines(t, filepath.Join(inbox, "web.access", "web.log"), "web", 151, 170)
	appendLines(t, filepath.Join(inbox, "db", "db.log"), "db", 1, 40)
	r2 := routertest.Start(t)
	cfg.Routers = []string{r2.Addr()}
	start(t, cfg)
	want = append(want, lineRange("app", 101, 130)...)
	want = append(want, lineRange("web", 151, 170)...)
	want = append(want, lineRange("db", 1, 40)...)
	exactlyOnce(t, want, r1, r2)
	if n := r2.AckedLineCount(); n != 90 {
		t.Errorf("second run acknowledged %d lines, want the 90 written while stopped", n)
	}
	for line, ds := range datasetsOf(t, r1, r2) {
		tag, _, _ := strings.Cut(line, " ")
		if want := map[string]string{"app": "app", "web": "web.access", "web-old": "web.access", "db": "db"}[tag]; ds != want {
			t.Fatalf("line %q in dataset %s, want %s", line, ds, want)
		}
	}
	for _, e := range loadRegistry(t, cfg) {
		if !strings.HasPrefix(e.Input, "inbox/") {
			t.Errorf("registry entry %s of input %q", e.Path, e.Input)
		}
	}
}

// The folders of one input are bounded: past max_folders a folder is not
// read, and counted.
func TestDatasetFoldersBounded(t *testing.T) {
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	appendLines(t, filepath.Join(inbox, "a", "a.log"), "a", 1, 20)
	appendLines(t, filepath.Join(inbox, "b", "b.log"), "b", 1, 20)
	r := routertest.Start(t)
	cfg := folderConfig(dir, r.Addr())
	cfg.Inputs[0].MaxFolders = 1
	run := start(t, cfg)
	exactlyOnce(t, lineRange("a", 1, 20), r)
	if got := testutil.ToFloat64(run.h.m.inputsRefused); got != 1 {
		t.Errorf("inputs_refused_total = %v, want 1", got)
	}
}

func TestDatasetFoldersValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{"dataset too", Input{DatasetFolders: "/in", Dataset: "x"}, "leave it empty"},
		{"absolute paths", Input{DatasetFolders: "/in", Paths: []string{"/var/log/*.log"}}, "relative"},
		{"bad format", Input{Dataset: "x", Paths: []string{"/x"}, Format: "gelf"}, "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Config{Registry: "/r", Routers: []string{"r:1"}, Inputs: []Input{tc.in}}.withDefaults()
			if err == nil {
				err = c.validate(false)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error about %q, got %v", tc.want, err)
			}
		})
	}
	c, _ := Config{Inputs: []Input{{DatasetFolders: "/srv/inbox"}}}.withDefaults()
	if in := c.Inputs[0]; in.Name != "inbox" || len(in.Paths) != 3 || in.MaxFolders != 100 {
		t.Errorf("defaults: %+v", in)
	}
}
