package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
)

// nginxDocs are n parsed nginx access events, one a millisecond.
func nginxDocs(n int, base time.Time) []index.Doc {
	paths := []string{"/", "/api/users", "/api/orders", "/static/app.js", "/health"}
	codes := []int{200, 200, 200, 304, 404, 500}
	docs := make([]index.Doc, n)
	for i := range docs {
		t := base.Add(time.Duration(i) * time.Millisecond)
		id := fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)
		path, code := paths[i%len(paths)], codes[i%len(codes)]
		ip := fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)
		src, _ := json.Marshal(map[string]any{
			"@timestamp":  t.Format(time.RFC3339Nano),
			"message":     fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0"`, ip, t.Format("02/Jan/2006:15:04:05 -0700"), path, code, 512+i%1000),
			"data_stream": map[string]any{"type": "logs", "dataset": "nginx.access", "namespace": "default"},
			"event":       map[string]any{"id": id},
			"host":        map[string]any{"name": fmt.Sprintf("web-%d", i%4)},
			"log":         map[string]any{"file": map[string]any{"path": "/var/log/nginx/access.log"}, "offset": i * 120},
			"source":      map[string]any{"ip": ip},
			"http":        map[string]any{"request": map[string]any{"method": "GET"}, "response": map[string]any{"status_code": code, "body": map[string]any{"bytes": 512 + i%1000}}},
			"url":         map[string]any{"path": path},
			"user_agent":  map[string]any{"original": "Mozilla/5.0"},
		})
		var f map[string]any
		_ = json.Unmarshal(src, &f)
		docs[i] = index.Doc{ID: id, Time: t, Source: src, Fields: f}
	}
	return docs
}

// BenchmarkPut: nginx events in batches of 5000, the indexer's default.
func BenchmarkPut(b *testing.B) {
	docs := nginxDocs(100000, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	for b.Loop() {
		b.StopTimer()
		ix, err := embedded.Open(filepath.Join(b.TempDir(), "ix"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(docs); i += 5000 {
			if err := ix.Put(context.Background(), docs[i:i+5000]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		ix.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(docs)*b.N)/b.Elapsed().Seconds(), "events/s")
}
