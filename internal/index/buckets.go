package index

import "time"

// Buckets splits [from, to) into buckets of width interval, at most max of
// them; a zero interval picks a round width giving about target buckets. The
// first starts at from truncated to the width, so bars fall on round times.
func Buckets(from, to time.Time, interval time.Duration, target, max int) []time.Time {
	if !from.Before(to) {
		return nil
	}
	span := to.Sub(from)
	if interval <= 0 {
		interval = RoundInterval(span / time.Duration(target))
	}
	if n := span / interval; n >= time.Duration(max) {
		interval = span / time.Duration(max-1)
	}
	var out []time.Time
	for t := from.Truncate(interval); t.Before(to); t = t.Add(interval) {
		out = append(out, t)
	}
	return out
}

// niceIntervals are the widths a histogram rounds up to.
var niceIntervals = []time.Duration{
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// RoundInterval is the smallest round width at least d.
func RoundInterval(d time.Duration) time.Duration {
	for _, n := range niceIntervals {
		if n >= d {
			return n
		}
	}
	return d
}

// BucketEnd is the end of bucket i.
func BucketEnd(buckets []time.Time, i int, to time.Time) time.Time {
	if i+1 < len(buckets) {
		return buckets[i+1]
	}
	return to
}
