package harvester

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// A symbolic link in a watched folder (to a secret outside it) is not read
// unless the input says follow_symlinks; the regular files next to it are.
func TestSymlinksNotFollowedUnlessTold(t *testing.T) {
	for _, follow := range []bool{false, true} {
		dir := t.TempDir()
		secret := filepath.Join(dir, "outside", "shadow")
		appendLines(t, secret, "secret", 1, 10)
		appendLines(t, filepath.Join(dir, "logs", "a.log"), "a", 1, 10)
		if err := os.Symlink(secret, filepath.Join(dir, "logs", "evil.log")); err != nil {
			t.Fatal(err)
		}
		r := routertest.Start(t)
		cfg := testConfig(dir, r.Addr())
		cfg.Inputs[0].FollowSymlinks = follow
		run := start(t, cfg)
		want := lineRange("a", 1, 10)
		if follow {
			want = append(want, lineRange("secret", 1, 10)...)
		}
		exactlyOnce(t, want, r)
		run.stop(t)
	}
}

// A symbolic link to a directory below a pattern's fixed part (logs/x ->
// outside, matched by logs/*/*.log) is not followed either: filepath.Glob
// walks into it and O_NOFOLLOW sees only the file's own name. A link in the
// fixed part itself (logs -> real) is the operator's and is followed.
func TestSymlinkedDirectoriesNotFollowed(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, filepath.Join(dir, "outside", "shadow.log"), "secret", 1, 10)
	appendLines(t, filepath.Join(dir, "real", "a.log"), "a", 1, 10)
	appendLines(t, filepath.Join(dir, "real", "sub", "b.log"), "b", 1, 10)
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "outside"), filepath.Join(dir, "real", "linked")); err != nil {
		t.Fatal(err)
	}
	r := routertest.Start(t)
	cfg := testConfig(dir, r.Addr())
	cfg.Inputs[0].Paths = []string{filepath.Join(dir, "logs", "*.log"), filepath.Join(dir, "logs", "*", "*.log")}
	run := start(t, cfg)
	exactlyOnce(t, append(lineRange("a", 1, 10), lineRange("b", 1, 10)...), r)
	run.stop(t)
}

func TestFixedDir(t *testing.T) {
	for pattern, want := range map[string]string{
		"/var/log/app.log":        "/var/log",
		"/var/log/*.log":          "/var/log",
		"/var/log/*/app-*.log":    "/var/log",
		"/var/lo?/nginx/*.log":    "/var",
		"/data/inbox/app/*/*.log": "/data/inbox/app",
	} {
		if got := fixedDir(pattern); got != want {
			t.Errorf("fixedDir(%q) = %q, want %q", pattern, got, want)
		}
	}
}
