package graph

import (
	"math"
	"time"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

const numStatus = 4 // StatusClass values

// bucket is one second of one edge's traffic.
type bucket struct {
	sec   int64 // the Unix second it holds; a slot holding another is empty
	count [numStatus]int64
	hist  sparseHist
}

// series is an edge's ring buffer of per-second buckets: slot sec%len holds
// second sec, so old seconds are overwritten as time goes on and a window is
// read by walking its seconds, with no timer and no allocation once warm.
type series struct {
	ring []bucket
}

func newSeries(seconds int) series { return series{ring: make([]bucket, seconds)} }

func (s *series) slot(sec int64) *bucket {
	return &s.ring[int(sec%int64(len(s.ring)))]
}

// add records n requests of one outcome that took latency in total.
func (s *series) add(sec int64, status topologyv1.StatusClass, n int64, latency time.Duration) {
	b := s.slot(sec)
	switch {
	case b.sec > sec:
		return // older than the ring: the caller keeps times within it
	case b.sec != sec:
		*b = bucket{sec: sec, hist: b.hist[:0]}
	}
	b.count[status] += n
	// A record stands for n requests with one mean latency; the agent splits
	// its records by latency bin, so the mean is close to each of them.
	b.hist.add(bin(latency/time.Duration(n)), uint32(min(n, math.MaxUint32)))
}

// totals is a window's sum.
type totals struct {
	count [numStatus]int64
	hist  denseHist
}

// sum adds the seconds [from, to) to t.
func (s *series) sum(from, to int64, t *totals) {
	if to-from > int64(len(s.ring)) {
		from = to - int64(len(s.ring))
	}
	for sec := from; sec < to; sec++ {
		b := s.slot(sec)
		if b.sec != sec {
			continue
		}
		for i, n := range b.count {
			t.count[i] += n
		}
		t.hist.merge(b.hist)
	}
}
