package graph

import (
	"math"
	"sort"
	"time"
)

// Latencies are kept in a log-scaled histogram: bin i holds latencies in
// (2^((i-1)/4), 2^(i/4)] microseconds, so a percentile read from it is within
// about 9% of the true value, from 1µs up to minutes, in at most numBins
// counters. Most seconds of most edges use a handful of bins, so a bucket keeps
// only the bins it has (a sorted sparse list) and a window merges them.
const (
	binsPerOctave = 4
	numBins       = 128 // 2^(127/4) µs ≈ 6 hours: anything longer is clamped
)

// bin returns the histogram bin of d.
func bin(d time.Duration) uint8 {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	i := int(math.Ceil(math.Log2(us) * binsPerOctave))
	if i >= numBins {
		i = numBins - 1
	}
	return uint8(i)
}

// binValue is the latency a bin stands for: its geometric middle.
func binValue(i int) time.Duration {
	if i == 0 {
		return time.Microsecond
	}
	return time.Duration(math.Exp2((float64(i)-0.5)/binsPerOctave) * float64(time.Microsecond))
}

type binCount struct {
	bin uint8
	n   uint32
}

// sparseHist is one bucket's histogram: the non-empty bins, sorted.
type sparseHist []binCount

func (h *sparseHist) add(b uint8, n uint32) {
	s := *h
	i := sort.Search(len(s), func(i int) bool { return s[i].bin >= b })
	if i < len(s) && s[i].bin == b {
		s[i].n += n
		return
	}
	s = append(s, binCount{})
	copy(s[i+1:], s[i:])
	s[i] = binCount{bin: b, n: n}
	*h = s
}

// denseHist merges buckets' histograms over a window.
type denseHist struct {
	bins  [numBins]uint64
	total uint64
}

func (d *denseHist) merge(h sparseHist) {
	for _, c := range h {
		d.bins[c.bin] += uint64(c.n)
		d.total += uint64(c.n)
	}
}

// quantile returns the latency below which a fraction q of the requests fall
// (0 when there were none).
func (d *denseHist) quantile(q float64) time.Duration {
	if d.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(d.total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, n := range d.bins {
		seen += n
		if seen >= rank {
			return binValue(i)
		}
	}
	return binValue(numBins - 1)
}
