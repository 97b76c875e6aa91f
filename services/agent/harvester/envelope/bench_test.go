package envelope

import (
	"strings"
	"testing"

	"github.com/hindsight-dev/hindsight/services/agent/harvester/lines"
)

// BenchmarkDecoder decodes a typical access-log line in each envelope; the
// json-file one through the driver's layout, the CRI one a few cuts, and
// the peer json-file-encoding-json what the json-file one costs through
// encoding/json (go test -bench Decoder ./services/agent/harvester/envelope).
func BenchmarkDecoder(b *testing.B) {
	msg := `10.0.0.7 - - [01/May/2024:10:00:00 +0000] "GET /api/orders/123 HTTP/1.1" 200 512 "-" "curl/8.5.0"` + strings.Repeat(" ", 20)
	for _, bc := range []struct {
		name string
		f    Format
		line string
	}{
		{"json-file", Docker, docker("stdout", msg+"\n", 0)},
		{"cri", CRI, cri("stdout", "F", msg, 0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder(bc.f, 1<<20)
			ln := lines.Line{Bytes: []byte(bc.line)}
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if out, err := d.Add(ln); err != nil || len(out) != 1 {
					b.Fatal(err, len(out))
				}
			}
		})
	}
	// The peer: the same json-file line through encoding/json alone.
	b.Run("json-file-encoding-json", func(b *testing.B) {
		line := []byte(docker("stdout", msg+"\n", 0))
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeDocker(line); err != nil {
				b.Fatal(err)
			}
		}
	})
}
