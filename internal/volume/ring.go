package volume

import (
	"math"
	"time"
)

// ring holds a series' counts of its last len(slots) buckets: bucket i (from
// 1970) in slot i mod len(slots), tagged with i mod 2^32 so that a slot knows
// which bucket it holds. Eight bytes a bucket: a week of 1-minute buckets is
// 81 KiB a series (a map of times was 656 KiB, BenchmarkSeriesMemory).
type ring struct {
	bucket time.Duration
	slots  []slot
}

type slot struct{ tag, n uint32 }

var epoch = time.Unix(0, 0).UTC()

func newRing(bucket time.Duration, n int) ring { return ring{bucket: bucket, slots: make([]slot, n)} }

// at is the slot and tag of bucket b (Sub saturates, so any time has one).
func (r ring) at(b time.Time) (*slot, uint32) {
	i := int64(b.Sub(epoch) / r.bucket)
	return &r.slots[((i%int64(len(r.slots)))+int64(len(r.slots)))%int64(len(r.slots))], uint32(i)
}

// get is bucket b's count: 0 unless its slot holds b.
func (r ring) get(b time.Time) int64 {
	if s, tag := r.at(b); s.tag == tag {
		return int64(s.n)
	}
	return 0
}

// add counts n events in bucket b, taking over the slot from an older
// bucket; it reports false, counting nothing, when the slot holds a newer
// bucket (b is out of the ring's reach). Counts saturate at 2^32-1.
func (r ring) add(b time.Time, n int64) bool {
	s, tag := r.at(b)
	if s.tag != tag {
		if s.n > 0 && int32(tag-s.tag) < 0 {
			return false
		}
		*s = slot{tag: tag}
	}
	s.n = uint32(min(int64(s.n)+n, math.MaxUint32))
	return true
}
