// Package embedded is the index layer's embedded engine: an index in a
// directory on local disk, needing no server — the all-in-one's live index
// and the replay service's "embedded" target. It is VictoriaLogs' storage
// library (logstorage: columnar blocks, bloom filters over each column's
// tokens, one partition per day), chosen by the bake-off in e2e/bench
// (as shipped, about 12 times Bleve's ingest rate in a twelfth of its disk).
//
// logstorage knows strings only and matches its own tokens, so every field
// is stored in the forms the query language needs (row.go) and a query is
// translated into filters over them that mean exactly what package query
// means (logsql.go); the conformance suite holds both engines to it.
//
// Ids: logstorage appends rows and never replaces one, so Put looks the
// batch's ids up among the stored rows of the batch's time range and adds
// only the new ones (an event's id and time are both derived from its
// source, so a redelivered event falls in the same range). Put returns once
// the rows are on disk; a consumer that commits its offsets after Put
// therefore neither loses nor duplicates an event across a crash: what was
// written before the crash is found by the lookup when redelivered.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// Index is one embedded index.
type Index struct {
	dir string
	s   *logstorage.Storage

	// mu serialises writers: the id lookup and the add are one step.
	mu     sync.Mutex
	shares []share

	catMu sync.RWMutex
	cat   catalog
}

// catalog is which columns the index has, persisted (catalogFile) before
// rows using a new one are added: bare words search every exact and list
// column (an index holds no copy of every value), and a range over a field
// that held a list is decided row by row.
type catalog struct {
	Exact    []string `json:"exact"`    // exact string/boolean columns
	Lists    []string `json:"lists"`    // fields that held a list
	Keywords bool     `json:"keywords"` // whether the keywords column was written
	exact    map[string]bool
	lists    map[string]bool
}

var _ index.Index = (*Index)(nil)

// Options bound an index.
type Options struct {
	// Retention keeps the events of this many days before today (older
	// days are dropped whole, and events older than that are not
	// indexed); 0 keeps every day.
	Retention int
	// MaxBytes bounds the disk use: the oldest days are dropped until the
	// index fits (today's and yesterday's are never dropped); 0 is no bound.
	MaxBytes int64
	// Registerer receives the index's metrics (hindsight_live_index_*).
	Registerer prometheus.Registerer
}

// Flags are the live index's flags.
type Flags struct {
	Retention int
	MaxBytes  int64
}

// Bind registers --live-retention and --live-max-bytes.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.IntVar(&f.Retention, "live-retention", 7, "days before today the live embedded index keeps (older days are dropped whole); 0 keeps every day")
	fs.Int64Var(&f.MaxBytes, "live-max-bytes", 20<<30, "most bytes the live embedded index may use on disk: the oldest days are dropped to stay below (today's and yesterday's never are); 0 is no bound")
}

// Options are the flags' options.
func (f Flags) Options(reg prometheus.Registerer) Options {
	return Options{Retention: f.Retention, MaxBytes: f.MaxBytes, Registerer: reg}
}

const catalogFile = "fields.json"

// setup prepares logstorage's package-level settings, which are flags of
// the standard flag set (our binaries parse flag sets of their own): its
// memory budget panics unless that set counts as parsed, and its logger
// is lowered to warnings (it logs every snapshot Put takes).
var setup sync.Once

// Open opens the index in dir, creating it if missing; it keeps every day.
func Open(dir string) (*Index, error) { return OpenWith(dir, Options{}) }

// OpenWith opens the index in dir with a retention, a disk bound and
// metrics.
func OpenWith(dir string, opt Options) (ix *Index, err error) {
	setup.Do(func() {
		if !flag.Parsed() {
			_ = flag.CommandLine.Parse(nil)
		}
		if f := flag.Lookup("loggerLevel"); f != nil {
			_ = f.Value.Set("WARN")
		}
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded index: %w", err)
	}
	ix = &Index{dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, catalogFile)); err == nil {
		if err := json.Unmarshal(b, &ix.cat); err != nil {
			return nil, fmt.Errorf("embedded index %s: %s: %w", dir, catalogFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("embedded index %s: %w", dir, err)
	}
	ix.cat.exact, ix.cat.lists = map[string]bool{}, map[string]bool{}
	for _, f := range ix.cat.Exact {
		ix.cat.exact[f] = true
	}
	for _, f := range ix.cat.Lists {
		ix.cat.lists[f] = true
	}
	const forever = 100 * 365 * 24 * time.Hour
	cfg := &logstorage.StorageConfig{
		Retention:              forever,
		FutureRetention:        forever,
		MaxDiskSpaceUsageBytes: opt.MaxBytes,
		FlushInterval:          time.Second,
	}
	if opt.Retention > 0 {
		cfg.Retention = time.Duration(opt.Retention) * 24 * time.Hour
	}
	// logstorage panics on a directory it cannot open (another process
	// holds it, a broken part).
	defer func() {
		if r := recover(); r != nil {
			ix, err = nil, fmt.Errorf("embedded index %s: %v", dir, r)
		}
	}()
	ix.s = logstorage.MustOpenStorage(filepath.Join(dir, "logs"), cfg)
	if opt.Registerer != nil {
		if err := opt.Registerer.Register(&collector{s: ix.s}); err != nil {
			ix.s.MustClose()
			return nil, err
		}
	}
	return ix, nil
}

// tenant: one index per storage.
var tenant = logstorage.TenantID{}

// Put writes the docs not yet in the index; see the package comment.
// Documents logstorage cannot hold (over 2 MiB) come back as Rejects.
//
// The rows are built on every core, a share of the batch each (parsing
// and row building are most of Put's work, and logstorage takes rows from
// several goroutines at once), before the id lookup: a batch is rarely a
// redelivery, and only the shares holding ids found stored are built again
// without them.
func (ix *Index) Put(ctx context.Context, docs []index.Doc) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	seen := make(map[string]bool, len(docs))
	keep := docs[:0:0]
	for _, d := range docs {
		if !seen[d.ID] {
			seen[d.ID] = true
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	n := min(runtime.GOMAXPROCS(0), (len(keep)+minShare-1)/minShare)
	if len(ix.shares) < n {
		ix.shares = append(ix.shares, make([]share, n-len(ix.shares))...)
	}
	shares := ix.shares[:n]
	each := func(f func(*share) error) error {
		var wg sync.WaitGroup
		errs := make([]error, len(shares))
		for i := range shares {
			wg.Go(func() { errs[i] = f(&shares[i]) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	per := (len(keep) + n - 1) / n
	for i := range shares {
		shares[i].docs = keep[min(i*per, len(keep)):min((i+1)*per, len(keep))]
	}
	defer func() {
		for i := range shares {
			shares[i].release()
		}
	}()
	if err := each(func(sh *share) error { return sh.build(ix, nil) }); err != nil {
		return err
	}
	lo, hi := shares[0].lo, shares[0].hi
	for _, sh := range shares[1:] {
		if len(sh.docs) > 0 {
			lo, hi = minTime(lo, sh.lo), maxTime(hi, sh.hi)
		}
	}
	have, err := ix.stored(ctx, keep, lo, hi)
	if err != nil {
		return err
	}
	if len(have) > 0 {
		if err := each(func(sh *share) error {
			for _, d := range sh.docs {
				if have[sortID(d.ID)] {
					return sh.build(ix, have)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	var rejects index.Rejects
	var grow catalog
	days := map[string]bool{}
	for i := range shares {
		sh := &shares[i]
		rejects = append(rejects, sh.rejects...)
		for _, f := range sh.grow.Exact {
			if !slices.Contains(grow.Exact, f) {
				grow.Exact = append(grow.Exact, f)
			}
		}
		for _, f := range sh.grow.Lists {
			if !slices.Contains(grow.Lists, f) {
				grow.Lists = append(grow.Lists, f)
			}
		}
		grow.Keywords = grow.Keywords || sh.grow.Keywords
		for d := range sh.days {
			days[d] = true
		}
	}
	if len(grow.Exact)+len(grow.Lists) > 0 || grow.Keywords {
		// Before the rows: searches must know the columns as soon as a row
		// having them is searchable.
		if err := ix.addColumns(grow); err != nil {
			return err
		}
	}
	if len(days) > 0 {
		_ = each(func(sh *share) error {
			if sh.lr != nil && sh.lr.RowsCount() > 0 {
				ix.s.MustAddRows(sh.lr)
			}
			return nil
		})
		ix.sync(slices.Sorted(maps.Keys(days)))
	}
	if len(rejects) > 0 {
		return rejects
	}
	return nil
}

// minShare is the fewest documents worth a goroutine of their own.
const minShare = 500

// share is one goroutine's part of a Put: its documents, and the rows
// built from them with what they add to the catalog.
type share struct {
	docs    []index.Doc
	rb      rowBuilder
	lr      *logstorage.LogRows
	lo, hi  time.Time
	rejects index.Rejects
	grow    catalog
	days    map[string]bool
}

// build builds the rows of the share's documents but those whose ids skip
// holds.
func (sh *share) build(ix *Index, skip map[string]bool) error {
	sh.release()
	sh.lr = logstorage.GetLogRows([]string{colDataset}, nil, nil, nil, "")
	sh.rejects, sh.grow, sh.days = nil, catalog{}, map[string]bool{}
	for i, d := range sh.docs {
		doc, t, err := sh.rb.parse(d)
		if err != nil {
			return err
		}
		if i == 0 || t.Before(sh.lo) {
			sh.lo = t
		}
		if i == 0 || t.After(sh.hi) {
			sh.hi = t
		}
		if skip[sortID(d.ID)] {
			continue
		}
		fields := sh.rb.build(d.ID, d.Source, doc)
		if n := logstorage.EstimatedJSONRowLen(fields); n > maxRowBytes {
			sh.rejects = append(sh.rejects, index.Reject{ID: d.ID, Index: d.Index, Status: 413,
				Reason: fmt.Sprintf("document of %d bytes indexed, at most %d", n, maxRowBytes)})
			continue
		}
		ix.newColumns(&sh.rb, &sh.grow)
		sh.lr.MustAdd(tenant, t.UnixNano(), fields, -1)
		sh.days[t.UTC().Format("20060102")] = true
	}
	return nil
}

// release returns the share's rows to logstorage's pool.
func (sh *share) release() {
	if sh.lr != nil {
		logstorage.PutLogRows(sh.lr)
		sh.lr = nil
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sync makes the rows added so far searchable and durable: logstorage keeps
// them in memory for up to a second otherwise. A partition's snapshot
// writes its in-memory parts to files first (and syncs them); the snapshot
// itself, hard links, is dropped at once.
func (ix *Index) sync(days []string) {
	ix.s.DebugFlush()
	for _, day := range days {
		for _, p := range ix.s.PartitionSnapshotMustCreate(day) {
			_ = ix.s.PartitionSnapshotDelete(p)
		}
	}
}

// stored is which of docs' ids (as sortID) are in the index already.
func (ix *Index) stored(ctx context.Context, docs []index.Doc, lo, hi time.Time) (map[string]bool, error) {
	var q strings.Builder
	q.WriteString(timeFilter(lo, hi.Add(time.Nanosecond)))
	q.WriteString(" " + col(colID) + ":in(")
	for i, d := range docs {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(quote(sortID(d.ID)))
	}
	q.WriteString(") | fields " + col(colID))
	have := map[string]bool{}
	var mu sync.Mutex
	err := ix.run(ctx, q.String(), func(db *logstorage.DataBlock) {
		if c := db.GetColumnByName(colID); c != nil {
			mu.Lock()
			for _, v := range c.Values {
				have[strings.Clone(v)] = true
			}
			mu.Unlock()
		}
	})
	return have, err
}

// newColumns adds to grow the columns of the row rb just built that the
// catalog (and grow) lack (copied: rb's names are views).
func (ix *Index) newColumns(rb *rowBuilder, grow *catalog) {
	ix.catMu.RLock()
	defer ix.catMu.RUnlock()
	for _, f := range rb.exact {
		if !ix.cat.exact[f] && !slices.Contains(grow.Exact, f) {
			grow.Exact = append(grow.Exact, strings.Clone(f))
		}
	}
	for _, f := range rb.lists {
		if !ix.cat.lists[f] && !slices.Contains(grow.Lists, f) {
			grow.Lists = append(grow.Lists, strings.Clone(f))
		}
	}
	if len(rb.kw) > 0 && !ix.cat.Keywords {
		grow.Keywords = true
	}
}

// columns is a snapshot of the catalog for a search.
func (ix *Index) columns() (exact []string, lists map[string]bool, keywords bool) {
	ix.catMu.RLock()
	defer ix.catMu.RUnlock()
	return ix.cat.Exact, ix.cat.lists, ix.cat.Keywords
}

// addColumns records new columns, durably (written whole, then renamed over
// the old file).
func (ix *Index) addColumns(grow catalog) error {
	ix.catMu.Lock()
	defer ix.catMu.Unlock()
	next := catalog{Exact: slices.Clone(ix.cat.Exact), Lists: slices.Clone(ix.cat.Lists), Keywords: ix.cat.Keywords || grow.Keywords}
	next.Exact = append(next.Exact, grow.Exact...)
	next.Lists = append(next.Lists, grow.Lists...)
	slices.Sort(next.Exact)
	slices.Sort(next.Lists)
	b, _ := json.Marshal(next)
	tmp := filepath.Join(ix.dir, catalogFile+".tmp")
	f, err := os.Create(tmp)
	if err == nil {
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(ix.dir, catalogFile))
	}
	if err != nil {
		return fmt.Errorf("embedded index %s: %w", ix.dir, err)
	}
	next.exact, next.lists = maps.Clone(ix.cat.exact), maps.Clone(ix.cat.lists)
	for _, f := range grow.Exact {
		next.exact[f] = true
	}
	for _, f := range grow.Lists {
		next.lists[f] = true
	}
	ix.cat = next
	return nil
}

// run runs a LogsQL query, calling f with each block of results (from
// several goroutines).
func (ix *Index) run(ctx context.Context, q string, f func(*logstorage.DataBlock)) error {
	pq, err := logstorage.ParseQuery(q)
	if err != nil {
		return fmt.Errorf("embedded index: query %q: %w", q, err)
	}
	qctx := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, pq, false, nil)
	return ix.s.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) { f(db) })
}

// Refresh does nothing: a batch is searchable once Put returns.
func (ix *Index) Refresh(context.Context) error { return nil }

// Count is the number of documents.
func (ix *Index) Count(ctx context.Context) (int64, error) {
	return ix.count(ctx, matchAll)
}

func (ix *Index) count(ctx context.Context, filter string) (int64, error) {
	var n int64
	var mu sync.Mutex
	err := ix.run(ctx, filter+" | stats count() n", func(db *logstorage.DataBlock) {
		if c := db.GetColumnByName("n"); c != nil {
			for _, v := range c.Values {
				x, _ := strconv.ParseInt(v, 10, 64)
				mu.Lock()
				n += x
				mu.Unlock()
			}
		}
	})
	return n, err
}

// Close closes the index.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.s != nil {
		ix.s.MustClose()
		ix.s = nil
	}
	return nil
}

// collector reports a live index's disk use and days as it is scraped.
type collector struct{ s *logstorage.Storage }

var (
	descBytes = prometheus.NewDesc("hindsight_live_index_disk_bytes",
		"Bytes the live embedded index uses on disk (its bound is --live-max-bytes).", nil, nil)
	descDays = prometheus.NewDesc("hindsight_live_index_days",
		"Days (partitions) the live embedded index holds (its retention is --live-retention).", nil, nil)
	descEvents = prometheus.NewDesc("hindsight_live_index_events",
		"Events the live embedded index holds.", nil, nil)
	descDropped = prometheus.NewDesc("hindsight_live_index_events_refused_total",
		"Events not indexed for their time: older than the retention, or too far in the future.", []string{"reason"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBytes
	ch <- descDays
	ch <- descEvents
	ch <- descDropped
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var st logstorage.StorageStats
	c.s.UpdateStats(&st)
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.IndexdbSizeBytes+st.CompressedSmallPartSize+st.CompressedBigPartSize))
	ch <- prometheus.MustNewConstMetric(descDays, prometheus.GaugeValue, float64(st.PartitionsCount))
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(st.InmemoryRowsCount+st.SmallPartRowsCount+st.BigPartRowsCount))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.RowsDroppedTooSmallTimestamp), "too_old")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.RowsDroppedTooBigTimestamp), "too_new")
}
