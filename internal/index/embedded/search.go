package embedded

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/services/replay/query"
)

// Search runs r: the query, the time range and datasets as one LogsQL
// filter; the total, the page (sorted by time, then id, so pages are
// stable), the histogram and each field's top values as logstorage stats
// over it. A filter logstorage cannot make exact is run as a superset whose
// rows query.Matches decides, and everything is counted here.
//
// Over a bounded range the counts per time bucket come first (the
// request's histogram, or one of about 60 bars of its own): the page is
// then sorted among the rows of the few newest (or oldest) buckets that
// hold it rather than among every match, and top values past
// r.TopSample matches are counted over a sample spread over the buckets.
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	exact, lists, kw := ix.columns()
	f := columns{exact: exact, lists: lists, keywords: kw}.toLogsQL(r.Query)
	var rest string // everything but the time range
	if len(r.Datasets) > 0 {
		ds := make([]string, len(r.Datasets))
		for i, d := range r.Datasets {
			ds[i] = quote(d)
		}
		rest += " " + col(colDataset) + ":in(" + strings.Join(ds, ",") + ")"
	}
	rest += " " + f.q
	base := timeFilter(r.From, r.To) + rest
	if !f.exact {
		return ix.searchRows(ctx, r, base)
	}
	out := &index.Result{}
	buckets := r.Buckets
	if len(buckets) == 0 && !r.From.IsZero() && !r.To.IsZero() && (r.Size > 0 || len(r.Top) > 0) {
		buckets = index.Buckets(r.From, r.To, 0, 60, 500)
	}
	var counts []int64
	if len(buckets) > 0 {
		var err error
		if counts, err = ix.histogram(ctx, buckets, r.To, base); err != nil {
			return nil, err
		}
		for _, n := range counts {
			out.Total += n
		}
		if len(r.Buckets) > 0 {
			out.Counts = counts
		}
	} else {
		var err error
		if out.Total, err = ix.count(ctx, base); err != nil {
			return nil, err
		}
	}
	// The page and each field's top values are scans of their own: run
	// together.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	do := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	if r.Size > 0 && int64(r.Offset) < out.Total {
		pageBase := base
		if counts != nil {
			from, to := window(r, buckets, counts)
			pageBase = timeFilter(from, to) + rest
		}
		do(func() (err error) { out.Hits, err = ix.page(ctx, r, pageBase); return err })
	}
	tops := make([][]index.ValueCount, len(r.Top))
	if len(r.Top) > 0 {
		bases, sampled := []string{base}, int64(0)
		if r.TopSample > 0 && out.Total > int64(r.TopSample) && counts != nil {
			bases = bases[:0]
			for _, tf := range sample(r, buckets, counts) {
				bases = append(bases, tf+rest)
			}
			do(func() error {
				for _, b := range bases {
					n, err := ix.count(ctx, b)
					if err != nil {
						return err
					}
					sampled += n
				}
				return nil
			})
		}
		do(func() (err error) { tops, err = ix.top(ctx, bases, r.Top, topSize(r)); return err })
		wg.Wait()
		if sampled > 0 {
			out.TopSample = sampled
			for _, vs := range tops {
				for i := range vs {
					vs[i].Count = (vs[i].Count*out.Total + sampled/2) / sampled
				}
			}
		}
	}
	wg.Wait()
	if failed != nil {
		return nil, failed
	}
	if len(r.Top) > 0 {
		out.Top = map[string][]index.ValueCount{}
		for i, field := range r.Top {
			out.Top[field] = tops[i]
		}
	}
	return out, nil
}

// window is the part of r's range that holds its page: the newest (oldest
// first: the oldest) buckets holding Offset+Size matches, or all the
// buckets with matches when there are fewer. Every match outside it sorts
// after every match in it, so the page is the same.
func window(r index.Request, buckets []time.Time, counts []int64) (from, to time.Time) {
	lo, hi := -1, -1 // the first and last buckets with matches
	for i, n := range counts {
		if n > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return r.From, r.To
	}
	need, acc := int64(r.Offset+r.Size), int64(0)
	if r.Oldest {
		for i := lo; i < hi; i++ {
			if acc += counts[i]; acc >= need {
				hi = i
				break
			}
		}
	} else {
		for i := hi; i > lo; i-- {
			if acc += counts[i]; acc >= need {
				lo = i
				break
			}
		}
	}
	from, to = buckets[lo], index.BucketEnd(buckets, hi, r.To)
	if from.Before(r.From) {
		from = r.From
	}
	return from, to
}

// sampleSlices is how many slices of the range a sample takes.
const sampleSlices = 8

// sample is time filters holding about r.TopSample matches together: the
// same leading share of sampleSlices buckets spread evenly over those with
// matches, so the sample follows the range from end to end. Each is a
// query of its own: logstorage reads only the blocks of a query's time
// range, but every block for a disjunction of ranges.
func sample(r index.Request, buckets []time.Time, counts []int64) []string {
	var full []int // the buckets with matches
	for i, n := range counts {
		if n > 0 {
			full = append(full, i)
		}
	}
	var chosen []int
	var in int64
	for k := range min(sampleSlices, len(full)) {
		i := full[k*len(full)/min(sampleSlices, len(full))]
		chosen = append(chosen, i)
		in += counts[i]
	}
	share := min(1, float64(r.TopSample)/float64(max(in, 1)))
	out := make([]string, 0, len(chosen))
	for _, i := range chosen {
		from, to := buckets[i], index.BucketEnd(buckets, i, r.To)
		if from.Before(r.From) {
			from = r.From
		}
		out = append(out, timeFilter(from, from.Add(max(time.Duration(float64(to.Sub(from))*share), time.Nanosecond))))
	}
	return out
}

// timeFilter is [from, to); a zero bound is open.
func timeFilter(from, to time.Time) string {
	switch {
	case !from.IsZero() && !to.IsZero():
		return "_time:[" + from.UTC().Format(time.RFC3339Nano) + ", " + to.UTC().Format(time.RFC3339Nano) + ")"
	case !from.IsZero():
		return "_time:>=" + from.UTC().Format(time.RFC3339Nano)
	case !to.IsZero():
		return "_time:<" + to.UTC().Format(time.RFC3339Nano)
	}
	return matchAll
}

func topSize(r index.Request) int {
	if r.TopSize > 0 {
		return r.TopSize
	}
	return 10
}

// hit is one row of a page.
type hit struct {
	t   int64
	id  string // sortID
	src string
}

func (r hit) compare(o hit) int {
	return cmp.Or(cmp.Compare(r.t, o.t), strings.Compare(r.id, o.id))
}

// sortHits orders hits as r asks: newest first unless Oldest, ties by id in
// the same direction.
func sortHits(hs []hit, oldest bool) {
	slices.SortFunc(hs, func(a, b hit) int {
		if oldest {
			return a.compare(b)
		}
		return b.compare(a)
	})
}

// page is the request's page: logstorage sorts and cuts it (its sort keeps
// the top offset+size rows only); the rows are ordered again here, as
// blocks may arrive in any order. The sort carries every column a later
// pipe needs through it, so it carries the time and id only: the sources,
// most of a row's bytes, are read for the page's rows alone, by id, once
// the page is known (carrying them made the sort read, decompress and copy
// every matching row's document).
func (ix *Index) page(ctx context.Context, r index.Request, base string) ([][]byte, error) {
	dir := " desc"
	if r.Oldest {
		dir = ""
	}
	q := base + " | sort by (_time" + dir + ", " + col(colID) + dir + ")"
	if r.Offset > 0 {
		q += " offset " + strconv.Itoa(r.Offset)
	}
	q += " limit " + strconv.Itoa(r.Size) + " | fields _time, " + col(colID)
	var mu sync.Mutex
	var hs []hit
	err := ix.run(ctx, q, func(db *logstorage.DataBlock) {
		ts, ids := db.GetColumnByName("_time"), db.GetColumnByName(colID)
		if ts == nil || ids == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range ts.Values {
			hs = append(hs, hit{t: parseTime(ts.Values[i]), id: strings.Clone(ids.Values[i])})
		}
	})
	if err != nil || len(hs) == 0 {
		return nil, err
	}
	sortHits(hs, r.Oldest)
	srcs, err := ix.sources(ctx, hs)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(hs))
	for _, h := range hs {
		if src, ok := srcs[h.id]; ok { // a day dropped since (retention) has none
			out = append(out, []byte(src))
		}
	}
	return out, nil
}

// sources are the documents of hits, by sortID: the rows of their time
// range with their ids.
func (ix *Index) sources(ctx context.Context, hs []hit) (map[string]string, error) {
	lo, hi := hs[0].t, hs[0].t
	var q strings.Builder
	for i, h := range hs {
		lo, hi = min(lo, h.t), max(hi, h.t)
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(quote(h.id))
	}
	filter := timeFilter(time.Unix(0, lo), time.Unix(0, hi+1)) + " " + col(colID) + ":in(" + q.String() + ") | fields " + col(colID) + ", " + col(colSource)
	var mu sync.Mutex
	out := make(map[string]string, len(hs))
	err := ix.run(ctx, filter, func(db *logstorage.DataBlock) {
		ids, srcs := db.GetColumnByName(colID), db.GetColumnByName(colSource)
		if ids == nil || srcs == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range ids.Values {
			out[strings.Clone(ids.Values[i])] = strings.Clone(srcs.Values[i])
		}
	})
	return out, err
}

func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

// histogram counts by logstorage's time buckets of the request's width,
// shifted to start where the request's do.
func (ix *Index) histogram(ctx context.Context, buckets []time.Time, to time.Time, base string) ([]int64, error) {
	b0 := buckets[0].UnixNano()
	w := to.UnixNano() - b0
	if len(buckets) > 1 {
		w = buckets[1].UnixNano() - b0
	}
	w = max(w, 1)
	// logstorage's bucket of t starts at t+off truncated to the width,
	// minus off.
	off := (w - b0%w) % w
	if off < 0 {
		off += w
	}
	q := base + " | stats by (_time:" + strconv.FormatInt(w, 10) + "ns"
	if off != 0 {
		q += " offset " + strconv.FormatInt(off, 10) + "ns"
	}
	q += ") count() n"
	counts := make([]int64, len(buckets))
	var mu sync.Mutex
	err := ix.run(ctx, q, func(db *logstorage.DataBlock) {
		ts, ns := db.GetColumnByName("_time"), db.GetColumnByName("n")
		if ts == nil || ns == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range ts.Values {
			n, _ := strconv.ParseInt(ns.Values[i], 10, 64)
			counts[bucketOf(buckets, parseTime(ts.Values[i]))] += n
		}
	})
	return counts, err
}

// bucketOf is the bucket holding time t (ns): the last starting at or
// before it.
func bucketOf(buckets []time.Time, t int64) int {
	i, found := slices.BinarySearchFunc(buckets, t, func(b time.Time, t int64) int { return cmp.Compare(b.UnixNano(), t) })
	if !found {
		i--
	}
	return max(i, 0)
}

// top is the fields' most frequent values among the matches of bases, by
// descending count then value. One pass reads the fields' columns of the
// matching rows and counts here (a logstorage grouping per field evaluated
// the filter once per field, and merged a map per field and shard), and the
// cut is made here, so ties at the cut are ordered as everywhere.
func (ix *Index) top(ctx context.Context, bases []string, fields []string, size int) ([][]index.ValueCount, error) {
	var mu sync.Mutex
	// Counts by pointer: assigning to a string key stores the key given,
	// and the block's values are reused after the callback.
	counts := make([]map[string]*int64, len(fields))
	cols := make([]string, len(fields))
	for i, f := range fields {
		counts[i], cols[i] = map[string]*int64{}, col(f)
	}
	pipe := " | fields " + strings.Join(cols, ", ")
	for _, base := range bases {
		err := ix.run(ctx, base+pipe, func(db *logstorage.DataBlock) {
			mu.Lock()
			defer mu.Unlock()
			for i, f := range fields {
				c := db.GetColumnByName(f)
				if c == nil {
					continue
				}
				m := counts[i]
				for _, v := range c.Values {
					if v == "" { // missing
						continue
					}
					if n := m[v]; n != nil {
						*n++
					} else {
						one := int64(1)
						m[strings.Clone(v)] = &one
					}
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([][]index.ValueCount, len(fields))
	for i, m := range counts {
		vs := make([]index.ValueCount, 0, len(m))
		for v, n := range m {
			vs = append(vs, index.ValueCount{Value: v, Count: *n})
		}
		out[i] = cut(vs, size)
	}
	return out, nil
}

func cut(vs []index.ValueCount, size int) []index.ValueCount {
	slices.SortFunc(vs, func(a, b index.ValueCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	if vs == nil {
		vs = []index.ValueCount{}
	}
	return vs[:min(len(vs), size)]
}

// maxDecided bounds the rows a search decides one by one (each decoded and
// kept in memory): past it the search fails, asking for a narrower one.
const maxDecided = 500000

// searchRows answers r over the rows of a superset filter, each decided
// by query.Matches on its document.
func (ix *Index) searchRows(ctx context.Context, r index.Request, base string) (*index.Result, error) {
	n, err := ix.count(ctx, base)
	if err != nil {
		return nil, err
	}
	if n > maxDecided {
		return nil, fmt.Errorf("the query has a range over lists or over every field, which is decided event by event: %d events to decide, at most %d; narrow the time range or name the field", n, maxDecided)
	}
	var mu sync.Mutex
	var hs []hit
	var docs []map[string]any
	var failed error
	err = ix.run(ctx, base+" | fields _time, "+col(colID)+", "+col(colSource), func(db *logstorage.DataBlock) {
		ts, ids, srcs := db.GetColumnByName("_time"), db.GetColumnByName(colID), db.GetColumnByName(colSource)
		if ts == nil || ids == nil || srcs == nil {
			return
		}
		for i := range ts.Values {
			var doc map[string]any
			if err := json.Unmarshal([]byte(srcs.Values[i]), &doc); err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				continue
			}
			if !query.Matches(r.Query, doc) {
				continue
			}
			mu.Lock()
			hs = append(hs, hit{t: parseTime(ts.Values[i]), id: strings.Clone(ids.Values[i]), src: strings.Clone(srcs.Values[i])})
			docs = append(docs, doc)
			mu.Unlock()
		}
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return nil, err
	}
	out := &index.Result{Total: int64(len(hs))}
	if len(r.Buckets) > 0 {
		out.Counts = make([]int64, len(r.Buckets))
		for _, h := range hs {
			out.Counts[bucketOf(r.Buckets, h.t)]++
		}
	}
	if len(r.Top) > 0 {
		out.Top = map[string][]index.ValueCount{}
		for _, f := range r.Top {
			counts := map[string]int64{}
			for _, d := range docs {
				if v, ok := query.Lookup(d, f).(string); ok && v != "" {
					counts[v]++
				}
			}
			var vs []index.ValueCount
			for v, n := range counts {
				vs = append(vs, index.ValueCount{Value: v, Count: n})
			}
			out.Top[f] = cut(vs, topSize(r))
		}
	}
	sortHits(hs, r.Oldest)
	for i := r.Offset; i < len(hs) && i < r.Offset+r.Size; i++ {
		out.Hits = append(out.Hits, []byte(hs[i].src))
	}
	return out, nil
}
