// The all-in-one killed with SIGKILL in the middle of an ingest: nginx
// lines dropped into its inbox, the process killed while they are being
// indexed, started again on the same data directory; exactly every line
// becomes searchable once. The harvester resends what the router had not
// acknowledged, the indexer what it had not committed: the embedded index
// stores each event id once.
package killnine

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/polltest"
)

var (
	allinone = flag.String("allinone", "", "the all-in-one binary (default: go build ./services/allinone)")
	lines    = flag.Int("lines", 500000, "nginx lines ingested (the issue's 500 000)")
)

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func binary(t *testing.T) string {
	bin := *allinone
	if root := os.Getenv("TEST_SRCDIR"); bin != "" && !filepath.IsAbs(bin) && root != "" {
		bin = filepath.Join(root, os.Getenv("TEST_WORKSPACE"), bin) // Bazel's $(rootpath)
	}
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "allinone")
		b := exec.Command("go", "build", "-o", bin, "github.com/hindsight-dev/hindsight/services/allinone")
		if out, err := b.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	base   string
	exited chan struct{}
}

// start runs the all-in-one on data until it is ready (on fresh ports again
// when one was taken meanwhile).
func start(t *testing.T, bin, data string, run int) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		httpAddr, admin := freePort(t), freePort(t)
		cmd := exec.Command(bin, "--data-dir="+data, "--gateway.http-addr="+httpAddr,
			"--grpc-addr="+freePort(t), "--admin-addr="+admin, "--kafka-port=0")
		logf, err := os.Create(filepath.Join(t.TempDir(), fmt.Sprintf("allinone-%d-%d.log", run, attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, base: "http://" + httpAddr, exited: make(chan struct{})}
		go func() { cmd.Wait(); logf.Close(); close(p.exited) }()
		ready := false
		for deadline := time.Now().Add(2 * time.Minute); !ready && time.Now().Before(deadline); {
			select {
			case <-p.exited:
				deadline = time.Time{}
				continue
			case <-time.After(200 * time.Millisecond):
			}
			if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusOK
			}
		}
		if ready {
			t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
			return p
		}
		cmd.Process.Kill()
		<-p.exited
		if b, err := os.ReadFile(logf.Name()); err == nil {
			t.Logf("attempt %d:\n%s", attempt, tail(b))
		}
		if attempt == 3 {
			t.Fatalf("the all-in-one did not get ready in 3 attempts")
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// total is the number of events a search finds (-1 if it failed).
func total(base string, body map[string]any) int {
	b, _ := json.Marshal(body)
	resp, err := http.Post(base+"/v1/search", "application/json", bytes.NewReader(b))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Total string `json:"total"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil {
		return -1
	}
	if r.Total == "" {
		return 0
	}
	n, _ := strconv.Atoi(r.Total)
	return n
}

func TestKill9MidIngestThenRestart(t *testing.T) {
	n := *lines
	bin := binary(t)
	data := t.TempDir()
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	var log bytes.Buffer
	for i := range n {
		ts := day.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n)))
		fmt.Fprintf(&log, "10.%d.%d.%d - - [%s] \"GET /item?line=%d HTTP/1.1\" %d %d \"-\" \"killnine\"\n",
			i%200, i/200%250, i%250, ts.Format("02/Jan/2006:15:04:05 -0700"), i, 200+i%2*300, 100+i%900)
	}
	all := map[string]any{"datasets": []string{"nginx.access"}, "from": day.Format(time.RFC3339), "to": day.Add(24 * time.Hour).Format(time.RFC3339), "pageSize": 1}

	p := start(t, bin, data, 1)
	inbox := filepath.Join(data, "inbox", "nginx.access")
	if err := os.MkdirAll(inbox, 0o777); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(data, "inbox", ".lines.tmp")
	if err := os.WriteFile(tmp, log.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, "access.log")); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	polltest.Until(t, "some lines searchable", 5*time.Minute, func() (bool, string) {
		c := total(p.base, all)
		return c >= n/10, fmt.Sprintf("%d of %d searchable", c, n)
	})
	before := total(p.base, all)
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-p.exited
	t.Logf("killed with %d of %d searchable, %v after the file was dropped", before, n, time.Since(began).Round(time.Millisecond))
	if before >= n {
		t.Fatalf("all %d searchable before the kill: the ingest was not interrupted", n)
	}

	p = start(t, bin, data, 2)
	took := polltest.Until(t, "every line searchable after the restart", 10*time.Minute, func() (bool, string) {
		c := total(p.base, all)
		return c >= n, fmt.Sprintf("%d of %d searchable", c, n)
	})
	t.Logf("all %d searchable %v after the restart", n, took.Round(time.Millisecond))
	// Settled: the harvester has resent what it had to and the indexer has
	// consumed everything; still exactly n, and sample lines exactly once.
	time.Sleep(10 * time.Second)
	if c := total(p.base, all); c != n {
		t.Fatalf("%d events searchable, want exactly %d", c, n)
	}
	for i := 0; i < n; i += n / 40 {
		q := map[string]any{"query": fmt.Sprintf(`message:"line %d"`, i), "datasets": []string{"nginx.access"}, "from": all["from"], "to": all["to"], "pageSize": 1}
		if c := total(p.base, q); c != 1 {
			t.Fatalf("line %d found %d times", i, c)
		}
	}
}
