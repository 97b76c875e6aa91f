package parse

import (
	"testing"

	"github.com/hindsight-dev/hindsight/internal/parse/parsetest"
)

// BenchmarkParse measures one core parsing each format's samples: MB/s from
// the line bytes, and lines/s. Run with
//
//	go test -run '^$' -bench Parse -cpu 1 ./internal/parse
func BenchmarkParse(b *testing.B) {
	for _, s := range parsetest.Samples {
		b.Run(s.Name, func(b *testing.B) {
			p, err := New(s.Config)
			if err != nil {
				b.Fatal(err)
			}
			ins := make([]Input, len(s.Lines))
			size := 0
			for i, l := range s.Lines {
				ins[i] = Input{Line: []byte(l), ReadTime: readTime}
				size += len(l)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			cpu0 := parsetest.CPUTime()
			for b.Loop() {
				for _, in := range ins {
					if e := p.Parse(in); Failed(e) && s.Name != "raw" {
						b.Fatalf("sample did not parse: %s", e.Fields.AsMap()["error.message"])
					}
				}
			}
			parsetest.ReportLines(b, b.N*len(ins), cpu0)
		})
	}
}
