package harness

import (
	"os"
	"testing"
)

// HostDir makes a directory the Docker engine can bind-mount into a container.
// Under Bazel it lies in the test's temporary directory, inside the output
// base, which is at the same path for the engine as for the test (tools/bazel
// mounts it so); under plain `go test` in t.TempDir. It is 0755, so containers
// running as another user can traverse it, and removed when the test ends.
func HostDir(t testing.TB, name string) string {
	t.Helper()
	base := os.Getenv("TEST_TMPDIR")
	if base == "" {
		base = t.TempDir()
	}
	dir, err := os.MkdirTemp(base, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
