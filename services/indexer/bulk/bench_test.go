package bulk

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/kafkatest"
)

// BenchmarkAdd measures what the indexer does per record before the bulk
// writer: place it (dataset and time from its headers, the daily index) and
// check its document is one line.
func BenchmarkAdd(b *testing.B) {
	ix, err := New(nil, nil, Options{Docs: 5000, Bytes: 64 << 20, Interval: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	day := time.Date(2015, 10, 21, 0, 0, 0, 0, time.UTC)
	recs := make([]kgo.Record, ix.opt.Docs)
	for i := range recs {
		id := fmt.Sprintf("%032x", i)
		ts := day.Add(time.Duration(i) * time.Second)
		msg := fmt.Sprintf(`10.0.%d.%d - - [21/Oct/2015:16:29:00 +0000] "GET /api/users/%d HTTP/1.1" 200 %d "-" "curl/8.5"`, i/256, i%256, i, 1000+i)
		recs[i] = *kafkatest.Record("logs.web", 0, id, "nginx.access", ts, kafkatest.Doc(id, "nginx.access", ts, msg))
		recs[i].Offset = int64(i)
	}
	b.SetBytes(int64(len(recs[0].Value)))
	b.ResetTimer()
	for i := 0; i < b.N; {
		ix.queue, ix.bytes = ix.queue[:0], 0
		for j := 0; j < len(recs) && i < b.N; j, i = j+1, i+1 {
			ix.Add(&recs[j])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
