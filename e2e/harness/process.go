package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
)

// Binary is the path of one of Hindsight's binaries: flagged (a suite's flag
// holding Bazel's $(rootpath), relative to the runfiles, or any path), or
// else pkg built with go build into a temporary directory.
func Binary(t testing.TB, flagged, pkg string) string {
	t.Helper()
	if root := os.Getenv("TEST_SRCDIR"); flagged != "" && !filepath.IsAbs(flagged) && root != "" {
		return filepath.Join(root, os.Getenv("TEST_WORKSPACE"), flagged)
	}
	if flagged != "" {
		return flagged
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// AllInOne is an all-in-one process of a test (StartAllInOne).
type AllInOne struct {
	// Base is the REST gateway's URL (http://127.0.0.1:port).
	Base string
	// GRPC is the address of its gRPC port (127.0.0.1:port).
	GRPC string
	// Log is the file its output goes to.
	Log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// How long the all-in-one may take to answer /readyz, and how many times it
// is started on fresh ports (one may be taken again before it binds it: the
// machine runs other suites).
const (
	readyWithin   = 2 * time.Minute
	startAttempts = 3
	stopWithin    = 30 * time.Second
)

// StartAllInOne runs the all-in-one binary bin on the data directory data
// with extra flags, on free loopback ports, until its admin /readyz answers
// 200. Its output goes to logDir/allinone-<attempt>.log (its end is logged
// when the test fails). When the test ends it is interrupted (killed after
// 30 s).
func StartAllInOne(t testing.TB, bin, data, logDir string, extra ...string) *AllInOne {
	t.Helper()
	for attempt := 1; ; attempt++ {
		httpAddr, grpcAddr, admin := servertest.FreeAddr(t), servertest.FreeAddr(t), servertest.FreeAddr(t)
		cmd := exec.Command(bin, append([]string{"--data-dir=" + data, "--gateway.http-addr=" + httpAddr,
			"--grpc-addr=" + grpcAddr, "--admin-addr=" + admin, "--kafka-port=0"}, extra...)...)
		a := &AllInOne{Base: "http://" + httpAddr, GRPC: grpcAddr, Log: filepath.Join(logDir, fmt.Sprintf("allinone-%d.log", attempt)), cmd: cmd, exited: make(chan struct{})}
		logf, err := os.Create(a.Log)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); logf.Close(); close(a.exited) }()
		if a.ready("http://" + admin + "/readyz") {
			t.Cleanup(func() {
				a.stop()
				if b, err := os.ReadFile(a.Log); err == nil && t.Failed() {
					t.Logf("all-in-one log (end):\n%s", b[max(0, len(b)-20000):])
				}
			})
			return a
		}
		a.Kill()
		if b, err := os.ReadFile(a.Log); err == nil {
			t.Logf("all-in-one attempt %d did not get ready; its log ends:\n%s", attempt, b[max(0, len(b)-4000):])
		}
		if attempt == startAttempts {
			t.Fatalf("the all-in-one did not get ready in %d attempts (see %s)", startAttempts, logDir)
		}
	}
}

// ready polls url until it answers 200, the process exits or readyWithin
// passes.
func (a *AllInOne) ready(url string) bool {
	for deadline := time.Now().Add(readyWithin); time.Now().Before(deadline); {
		select {
		case <-a.exited:
			return false
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
	return false
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (a *AllInOne) Kill() {
	a.cmd.Process.Kill()
	<-a.exited
}

func (a *AllInOne) stop() {
	a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.exited:
	case <-time.After(stopWithin):
		a.Kill()
	}
}
