// Package headless gives tests a headless Chromium (Debian's package, installed
// by tools/setup/chromium.sh) driven with chromedp, and saves screenshots
// where Bazel keeps a test's outputs.
package headless

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts a headless Chromium for the test (stopped when it ends) and
// returns its chromedp context. Run one action on it without a timeout first:
// that starts the browser, which lives as long as that call's context.
func Browser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(executable(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		// Pages drawn with WebGL (Vizceral) need Chromium's software
		// implementation when there is no GPU, which it only uses when told.
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel2)
	return ctx
}

func executable(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: install it with `sudo tools/setup/chromium.sh`")
	return ""
}

// OutputDir is where a test's files for people go: Bazel's undeclared
// outputs (bazel-testlogs/<target>/test.outputs/), else a temporary directory.
func OutputDir(t testing.TB) string {
	if d := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// Screenshot saves the whole page as a PNG named name in OutputDir, after a
// moment for animations to draw the last change, and logs its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(OutputDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}
