package ingest

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/parse/parsetest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/rules"
)

// BenchmarkParseEncode is the router's work per line short of Kafka: parse,
// fill the event, route, encode the ECS document and build the record. One
// op is a batch of 1000 lines (an agent's default batch), each format's
// samples repeated; MB/s counts line bytes. Run with
//
//	go test -run '^$' -bench ParseEncode -cpu 1 ./services/router/ingest
func BenchmarkParseEncode(b *testing.B) {
	const batchLines = 1000
	read := timestamppb.New(time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC))
	for _, s := range parsetest.Samples {
		b.Run(s.Name, func(b *testing.B) {
			ds, err := rules.NewDataset(&routingv1.Dataset{Name: s.Name, Parser: s.Config, Topic: &routingv1.TopicSettings{Topic: "logs." + s.Name}})
			if err != nil {
				b.Fatal(err)
			}
			batch := &routingv1.Batch{Dataset: s.Name, Labels: map[string]string{"env": "prod", "team": "core"}}
			size := 0
			for i := range batchLines {
				l := s.Lines[i%len(s.Lines)]
				batch.Lines = append(batch.Lines, &routingv1.RawLine{
					Source:   &eventv1.Source{Host: "node-1", FilePath: "/var/log/" + s.Name + ".log", FileId: "8c2f0e5b", Offset: int64(i) * 200},
					Line:     []byte(l),
					ReadTime: read,
				})
				size += len(l)
			}
			now := time.Now()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			cpu0 := parsetest.CPUTime()
			for b.Loop() {
				recs, _, _, _ := prepare(ds, batch, "", now, DefaultBatchMaxBytes-recordOverhead, nil)
				if len(recs) != batchLines {
					b.Fatalf("%d records", len(recs))
				}
			}
			parsetest.ReportLines(b, b.N*batchLines, cpu0)
		})
	}
}
