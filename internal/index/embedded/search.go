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
func (ix *Index) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	exact, lists, kw := ix.columns()
	f := columns{exact: exact, lists: lists, keywords: kw}.toLogsQL(r.Query)
	base := timeFilter(r.From, r.To)
	if len(r.Datasets) > 0 {
		ds := make([]string, len(r.Datasets))
		for i, d := range r.Datasets {
			ds[i] = quote(d)
		}
		base += " " + col(colDataset) + ":in(" + strings.Join(ds, ",") + ")"
	}
	base += " " + f.q
	if !f.exact {
		return ix.searchRows(ctx, r, base)
	}
	// The total, the page, the histogram and each field's top values are
	// scans of their own: run together (the total is the histogram's sum
	// when there is one, its buckets covering [From, To)).
	out := &index.Result{}
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
	if len(r.Buckets) > 0 {
		do(func() (err error) {
			out.Counts, err = ix.histogram(ctx, r, base)
			for _, n := range out.Counts {
				out.Total += n
			}
			return err
		})
	} else {
		do(func() (err error) { out.Total, err = ix.count(ctx, base); return err })
	}
	if r.Size > 0 {
		do(func() (err error) { out.Hits, err = ix.page(ctx, r, base); return err })
	}
	tops := make([][]index.ValueCount, len(r.Top))
	for i, field := range r.Top {
		do(func() (err error) { tops[i], err = ix.top(ctx, base, field, topSize(r)); return err })
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
// blocks may arrive in any order.
func (ix *Index) page(ctx context.Context, r index.Request, base string) ([][]byte, error) {
	dir := " desc"
	if r.Oldest {
		dir = ""
	}
	q := base + " | sort by (_time" + dir + ", " + col(colID) + dir + ")"
	if r.Offset > 0 {
		q += " offset " + strconv.Itoa(r.Offset)
	}
	q += " limit " + strconv.Itoa(r.Size) + " | fields _time, " + col(colID) + ", " + col(colSource)
	var mu sync.Mutex
	var hs []hit
	err := ix.run(ctx, q, func(db *logstorage.DataBlock) {
		ts, ids, srcs := db.GetColumnByName("_time"), db.GetColumnByName(colID), db.GetColumnByName(colSource)
		if ts == nil || ids == nil || srcs == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range ts.Values {
			hs = append(hs, hit{t: parseTime(ts.Values[i]), id: strings.Clone(ids.Values[i]), src: strings.Clone(srcs.Values[i])})
		}
	})
	if err != nil {
		return nil, err
	}
	sortHits(hs, r.Oldest)
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = []byte(h.src)
	}
	return out, nil
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
func (ix *Index) histogram(ctx context.Context, r index.Request, base string) ([]int64, error) {
	b0 := r.Buckets[0].UnixNano()
	w := r.To.UnixNano() - b0
	if len(r.Buckets) > 1 {
		w = r.Buckets[1].UnixNano() - b0
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
	counts := make([]int64, len(r.Buckets))
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
			counts[bucketOf(r.Buckets, parseTime(ts.Values[i]))] += n
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

// top is a field's most frequent values among the matches, by descending
// count then value. Every group is counted by logstorage and the cut made
// here, so ties at the cut are ordered as everywhere.
func (ix *Index) top(ctx context.Context, base, field string, size int) ([]index.ValueCount, error) {
	var mu sync.Mutex
	var vs []index.ValueCount
	c := col(field)
	err := ix.run(ctx, base+" "+c+":* | stats by ("+c+") count() n", func(db *logstorage.DataBlock) {
		fs, ns := db.GetColumnByName(field), db.GetColumnByName("n")
		if fs == nil || ns == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range fs.Values {
			n, _ := strconv.ParseInt(ns.Values[i], 10, 64)
			vs = append(vs, index.ValueCount{Value: strings.Clone(fs.Values[i]), Count: n})
		}
	})
	return cut(vs, size), err
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
