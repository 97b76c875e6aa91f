package sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/kafkatest"
)

// BenchmarkWriter measures the archiver's sink alone: records buffered and
// written as gzip NDJSON objects (with manifests, journal and fsync) into a
// local directory, flushing every 8 MiB as the loop does after each poll.
func BenchmarkWriter(b *testing.B) {
	store := openStore(b, b.TempDir())
	w, err := New(store, Options{FlushBytes: 8 << 20, FlushInterval: time.Hour, Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	const distinct = 4096
	recs := make([]kgo.Record, distinct)
	for i := range recs {
		id := fmt.Sprintf("%032x", i)
		ts := day0.Add(time.Duration(i) * time.Second)
		msg := fmt.Sprintf(`10.0.%d.%d - - [21/Oct/2015:16:29:00 +0000] "GET /api/users/%d HTTP/1.1" 200 %d "-" "curl/8.5"`, i/256, i%256, i, 1000+i)
		recs[i] = *kafkatest.Record("logs.web", 0, id, "nginx.access", ts, kafkatest.Doc(id, "nginx.access", ts, msg))
	}
	b.SetBytes(int64(len(recs[0].Value)))
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		r := recs[i%distinct] // a copy: the writer keeps the pointer
		r.Offset = int64(i)
		w.Add(&r)
		if i%1000 == 999 {
			if _, err := w.Flush(ctx, false, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := w.Flush(ctx, true, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
