package volume

import (
	"math"
	"testing"
	"time"
)

func TestRingKeepsTheNewestBucketOfASlot(t *testing.T) {
	r := newRing(time.Minute, 10)
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	if !r.add(t0, 3) || !r.add(t0, 4) || r.get(t0) != 7 {
		t.Fatalf("bucket t0 holds %d, want 7", r.get(t0))
	}
	later := t0.Add(10 * time.Minute) // the same slot
	if r.get(later) != 0 {
		t.Fatal("a bucket never counted reads another's count")
	}
	if !r.add(later, 1) || r.get(later) != 1 || r.get(t0) != 0 {
		t.Fatalf("after a newer bucket took the slot: %d, %d", r.get(later), r.get(t0))
	}
	if r.add(t0, 5) || r.get(later) != 1 {
		t.Fatal("an older bucket took the slot back")
	}
	r.add(t0.Add(time.Minute), math.MaxUint32)
	if r.add(t0.Add(time.Minute), 10); r.get(t0.Add(time.Minute)) != math.MaxUint32 {
		t.Fatalf("count %d, want saturated", r.get(t0.Add(time.Minute)))
	}
	// Times before 1970 have slots too.
	r = newRing(time.Minute, 10)
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	if !r.add(old, 2) || r.get(old) != 2 || r.get(old.Add(time.Minute)) != 0 {
		t.Fatal("1960")
	}
}
