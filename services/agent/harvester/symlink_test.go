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
