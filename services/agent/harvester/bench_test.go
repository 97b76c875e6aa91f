package harvester

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

// BenchmarkHarvest measures files → batches → an in-process router over
// gRPC on loopback, acknowledged: lines/s and MB/s (of file bytes) for one
// input reading one file from the start, registry included.
func BenchmarkHarvest(b *testing.B) {
	for _, lineBytes := range []int{120, 1024} {
		b.Run(fmt.Sprintf("line=%dB", lineBytes), func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "logs", "app.log")
			lines := (64 << 20) / lineBytes // a 64 MB file
			size := writeBenchFile(b, path, lines, lineBytes)
			r := routertest.Start(b)
			r.Discard()
			b.SetBytes(size)
			b.ResetTimer()
			for i := range b.N {
				cfg := testConfig(dir, r.Addr())
				cfg.Registry = filepath.Join(dir, fmt.Sprint("state-", i), "registry.json")
				cfg.Batch = Batch{MaxLines: 1000, MaxBytes: 1 << 20, Linger: 50 * time.Millisecond}
				cfg.Window = 8
				cfg.RegistryFlush = time.Second
				h, err := New(cfg, testLogger(), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- h.Run(ctx) }()
				r.WaitAckedLines(b, (i+1)*lines, 5*time.Minute)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// writeBenchFile writes n access-log-like lines of about lineBytes bytes.
func writeBenchFile(b *testing.B, path string, n, lineBytes int) int64 {
	b.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		head := fmt.Sprintf(`10.0.%d.%d - - [01/May/2024:12:%02d:%02d +0000] "GET /api/items/%d HTTP/1.1" 200 %d "-" "bench/1.0" `,
			i%256, i%200, i/60%60, i%60, i, i%9000)
		if pad := lineBytes - len(head) - 1; pad > 0 {
			head += strings.Repeat("a", pad)
		}
		w.WriteString(head)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	return fi.Size()
}
