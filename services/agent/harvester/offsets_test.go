package harvester

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/polltest"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/fingerprint"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/offsets"
	"github.com/hindsight-dev/hindsight/services/agent/harvester/routertest"
)

func TestAckedOffsetIsContiguous(t *testing.T) {
	st := newFileState(offsets.Entry{ID: "f"}, time.Now())
	a, b, c := &span{end: 10}, &span{end: 25}, &span{end: 40}
	st.spans = []*span{a, b, c}
	c.acked = true
	st.advance()
	b.acked = true
	st.advance()
	if st.acked != 0 {
		t.Fatalf("acked %d before the first span was", st.acked)
	}
	st.skipTo(50) // a filtered line after the spans
	a.acked = true
	st.advance()
	if st.acked != 50 || len(st.spans) != 0 || st.next != 50 {
		t.Fatalf("acked %d, next %d, %d spans left", st.acked, st.next, len(st.spans))
	}
}

// Acknowledgements out of order: while the first batch is unacknowledged,
// the registry does not move, however many later batches are acknowledged.
func TestOutOfOrderAcksKeepTheRegistryBehind(t *testing.T) {
	dir := t.TempDir()
	r := routertest.Start(t)
	r.Stall()
	cfg := testConfig(dir, r.Addr())
	cfg.Batch.MaxLines = 10
	path := filepath.Join(dir, "logs", "app.log")
	appendLines(t, path, "a", 1, 40)
	id := fingerprint.ID([]byte(line("a", 1) + "\n" + line("a", 2))[:testFingerprint])
	start(t, cfg)
	r.WaitReceivedLines(t, 40, 10*time.Second)
	var first uint64
	for _, b := range r.Received() {
		if first == 0 || b.Sequence < first {
			first = b.Sequence
		}
	}
	r.AckHeldWhere(func(b *routingv1.Batch) bool { return b.Sequence != first })
	r.WaitAckedLines(t, 30, 10*time.Second)
	time.Sleep(100 * time.Millisecond) // the registry is written after each ack (registry_flush 0)
	if e := loadRegistry(t, cfg)[id]; e.Offset != 0 {
		t.Fatalf("registry at %d with the first batch unacknowledged", e.Offset)
	}
	r.Resume()
	exactlyOnce(t, lineRange("a", 1, 40), r)
	size := int64(40 * (len(line("a", 1)) + 1))
	polltest.True(t, "the registry to reach the end", 10*time.Second, func() bool { return loadRegistry(t, cfg)[id].Offset == size })
}
