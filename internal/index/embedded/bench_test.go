package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

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

// BenchmarkPut: nginx events in batches of 5000 (the indexer's default)
// from their JSON documents, as the live sink gets them off Kafka, next to
// raw logstorage ingesting the same documents in the same run (its own JSON
// flattening, one MustAddRows per batch, the parts written to files at the
// end): our ev/s, raw ev/s and the ratio, the iterations alternating so the
// machine's load falls on both alike; and the process's CPU time per event
// of each (background merges included), which a loaded machine moves less
// than the wall clock.
func BenchmarkPut(b *testing.B) {
	const n, batch = 100000, 5000
	docs := nginxDocs(n, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	var ours, raw, oursCPU, rawCPU time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		ix, err := embedded.Open(filepath.Join(dir, "ix"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu := time.Now(), cpuTime()
		for i := 0; i < len(docs); i += batch {
			if err := ix.Put(context.Background(), liveDocs(docs[i:i+batch])); err != nil {
				b.Fatal(err)
			}
		}
		ix.Close()
		ours, oursCPU = ours+time.Since(start), oursCPU+cpuTime()-cpu
		b.StopTimer()
		start, cpu = time.Now(), cpuTime()
		rawIngest(filepath.Join(dir, "raw"), docs, batch)
		raw, rawCPU = raw+time.Since(start), rawCPU+cpuTime()-cpu
		b.StartTimer()
	}
	ev := float64(n * b.N)
	b.ReportMetric(ev/ours.Seconds(), "events/s")
	b.ReportMetric(ev/raw.Seconds(), "raw-events/s")
	b.ReportMetric(raw.Seconds()/ours.Seconds(), "ours/raw")
	b.ReportMetric(float64(oursCPU.Microseconds())/ev, "cpu-µs/ev")
	b.ReportMetric(float64(rawCPU.Microseconds())/ev, "raw-cpu-µs/ev")
	b.ReportMetric(rawCPU.Seconds()/oursCPU.Seconds(), "cpu-ours/raw")
}

// cpuTime is the process's user + system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveDocs are docs as the live sink makes them from Kafka records: the
// JSON document, no decoded fields.
func liveDocs(docs []index.Doc) []index.Doc {
	out := make([]index.Doc, len(docs))
	for i, d := range docs {
		out[i] = index.Doc{ID: d.ID, Time: d.Time, Source: d.Source}
	}
	return out
}

// rawIngest is logstorage on its own: the documents flattened by its JSON
// parser, stream dataset + host, on disk at the end.
func rawIngest(dir string, docs []index.Doc, batch int) {
	s := logstorage.MustOpenStorage(dir, &logstorage.StorageConfig{
		Retention: 100 * 365 * 24 * time.Hour, FutureRetention: 100 * 365 * 24 * time.Hour, FlushInterval: time.Second,
	})
	defer s.MustClose()
	lr := logstorage.GetLogRows([]string{"data_stream.dataset", "host.name"}, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)
	p := logstorage.GetJSONParser()
	defer logstorage.PutJSONParser(p)
	for i, d := range docs {
		if err := p.ParseLogMessage(d.Source, nil, ""); err != nil {
			panic(err)
		}
		lr.MustAdd(logstorage.TenantID{}, d.Time.UnixNano(), p.Fields, -1)
		if lr.RowsCount() == batch || i == len(docs)-1 {
			s.MustAddRows(lr)
			lr.ResetKeepSettings()
		}
	}
	s.DebugFlush()
	for _, p := range s.PartitionSnapshotMustCreate("") {
		_ = s.PartitionSnapshotDelete(p)
	}
}

// BenchmarkPutBatch: the replay loader's batch (1 000 a Put) next to the
// live indexer's (5 000), alternating in the same run: every Put pays an
// id lookup and a durable flush whatever its size.
func BenchmarkPutBatch(b *testing.B) {
	const n = 50000
	docs := liveDocs(nginxDocs(n, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	sizes := []int{1000, 5000}
	took := make([]time.Duration, len(sizes))
	for b.Loop() {
		for i, size := range sizes {
			ix, err := embedded.Open(filepath.Join(b.TempDir(), "ix"))
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for j := 0; j < n; j += size {
				if err := ix.Put(context.Background(), docs[j:j+size]); err != nil {
					b.Fatal(err)
				}
			}
			took[i] += time.Since(start)
			ix.Close()
		}
	}
	for i, size := range sizes {
		b.ReportMetric(float64(n*b.N)/took[i].Seconds(), fmt.Sprintf("batch%d-events/s", size))
	}
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "batch5000/batch1000")
}
