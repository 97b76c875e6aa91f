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
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

var (
	allinone = flag.String("allinone", "", "the all-in-one binary (default: go build ./services/allinone)")
	lines    = flag.Int("lines", 500000, "nginx lines ingested (the issue's 500 000)")
)

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
	bin := harness.Binary(t, *allinone, "github.com/hindsight-dev/hindsight/services/allinone")
	data := t.TempDir()
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	var log bytes.Buffer
	for i := range n {
		ts := day.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n)))
		fmt.Fprintf(&log, "10.%d.%d.%d - - [%s] \"GET /item?line=%d HTTP/1.1\" %d %d \"-\" \"killnine\"\n",
			i%200, i/200%250, i%250, ts.Format("02/Jan/2006:15:04:05 -0700"), i, 200+i%2*300, 100+i%900)
	}
	all := map[string]any{"datasets": []string{"nginx.access"}, "from": day.Format(time.RFC3339), "to": day.Add(24 * time.Hour).Format(time.RFC3339), "pageSize": 1}

	p := harness.StartAllInOne(t, bin, data, t.TempDir())
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
		c := total(p.Base, all)
		return c >= n/10, fmt.Sprintf("%d of %d searchable", c, n)
	})
	before := total(p.Base, all)
	p.Kill() // SIGKILL
	t.Logf("killed with %d of %d searchable, %v after the file was dropped", before, n, time.Since(began).Round(time.Millisecond))
	if before >= n {
		t.Fatalf("all %d searchable before the kill: the ingest was not interrupted", n)
	}

	p = harness.StartAllInOne(t, bin, data, t.TempDir())
	took := polltest.Until(t, "every line searchable after the restart", 10*time.Minute, func() (bool, string) {
		c := total(p.Base, all)
		return c >= n, fmt.Sprintf("%d of %d searchable", c, n)
	})
	t.Logf("all %d searchable %v after the restart", n, took.Round(time.Millisecond))
	// Settled: the harvester has resent what it had to and the indexer has
	// consumed everything; still exactly n, and sample lines exactly once.
	time.Sleep(10 * time.Second)
	if c := total(p.Base, all); c != n {
		t.Fatalf("%d events searchable, want exactly %d", c, n)
	}
	for i := 0; i < n; i += n / 40 {
		q := map[string]any{"query": fmt.Sprintf(`message:"line %d"`, i), "datasets": []string{"nginx.access"}, "from": all["from"], "to": all["to"], "pageSize": 1}
		if c := total(p.Base, q); c != 1 {
			t.Fatalf("line %d found %d times", i, c)
		}
	}
}
