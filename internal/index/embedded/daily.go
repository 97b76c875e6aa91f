package embedded

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// Daily is the embedded engine's live index: one index per dataset and day
// (index.DailyName, as in OpenSearch) under one directory, searched
// together — only the days a search's range touches — and dropped whole
// when they are older than the retention or the disk bound needs room.
type Daily struct {
	dir string
	opt DailyOptions
	m   *dailyMetrics

	mu   sync.RWMutex
	days map[string]*Index // by index name
}

// DailyOptions bound the live index.
type DailyOptions struct {
	// Retention keeps this many days (today included); 0 keeps every day.
	Retention int
	// MaxBytes bounds the disk use: the oldest days are dropped until the
	// index fits (today's is never dropped); 0 is no bound.
	MaxBytes   int64
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DailyFlags are the live index's flags.
type DailyFlags struct {
	Retention int
	MaxBytes  int64
}

// Bind registers --live-retention and --live-max-bytes.
func (f *DailyFlags) Bind(fs *flag.FlagSet) {
	fs.IntVar(&f.Retention, "live-retention", 7, "days the live embedded index keeps (today included; older days are dropped whole); 0 keeps every day")
	fs.Int64Var(&f.MaxBytes, "live-max-bytes", 20<<30, "most bytes the live embedded index may use on disk: the oldest days are dropped to stay below (today's never is); 0 is no bound")
}

var _ index.Index = (*Daily)(nil)

// OpenDaily opens the daily indices under dir, creating it if missing.
func OpenDaily(dir string, opt DailyOptions) (*Daily, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("live index: %w", err)
	}
	m, err := newDailyMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Daily{dir: dir, opt: opt, m: m, days: map[string]*Index{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("live index: %w", err)
	}
	for _, e := range entries {
		if _, ok := dayOf(e.Name()); !ok || !e.IsDir() {
			continue
		}
		ix, err := Open(filepath.Join(dir, e.Name()))
		if err != nil {
			d.Close()
			return nil, err
		}
		d.days[e.Name()] = ix
	}
	return d, nil
}

// dayOf is the day of a daily index name (…-YYYY.MM.DD).
func dayOf(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, "logs-") || len(name) < len("logs--2006.01.02") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006.01.02", name[len(name)-10:])
	return t, err == nil
}

// Put writes docs into their days' indices (a document without an Index
// goes to the daily index of its dataset and time).
func (d *Daily) Put(ctx context.Context, docs []index.Doc) error {
	byIndex := map[string][]index.Doc{}
	for _, doc := range docs {
		name := doc.Index
		if _, ok := dayOf(name); !ok {
			ds, _ := doc.Fields["data_stream"].(map[string]any)
			dataset, _ := ds["dataset"].(string)
			name = index.DailyName(dataset, doc.Time)
		}
		byIndex[name] = append(byIndex[name], doc)
	}
	for name, docs := range byIndex {
		ix, err := d.day(name)
		if err != nil {
			return err
		}
		d.mu.RLock()
		err = ix.Put(ctx, docs)
		d.mu.RUnlock()
		if err != nil {
			return fmt.Errorf("live index %s: %w", name, err)
		}
	}
	return nil
}

// day returns the index of name, creating it.
func (d *Daily) day(name string) (*Index, error) {
	d.mu.RLock()
	ix := d.days[name]
	d.mu.RUnlock()
	if ix != nil {
		return ix, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ix := d.days[name]; ix != nil {
		return ix, nil
	}
	ix, err := Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil, err
	}
	d.days[name] = ix
	return ix, nil
}

// Refresh does nothing: a batch is searchable once Put returns.
func (d *Daily) Refresh(context.Context) error { return nil }

// Search searches the days r's range touches, together.
func (d *Daily) Search(ctx context.Context, r index.Request) (*index.Result, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var sel []bleve.Index
	for name, ix := range d.days {
		day, _ := dayOf(name)
		if day.Before(r.To) && !day.Add(24*time.Hour).Before(r.From) {
			sel = append(sel, ix.bi)
		}
	}
	if len(sel) == 0 {
		res := &index.Result{}
		if len(r.Buckets) > 0 {
			res.Counts = make([]int64, len(r.Buckets))
		}
		if len(r.Top) > 0 {
			res.Top = map[string][]index.ValueCount{}
			for _, f := range r.Top {
				res.Top[f] = []index.ValueCount{}
			}
		}
		return res, nil
	}
	if len(sel) == 1 {
		return search(ctx, sel[0], r)
	}
	return search(ctx, bleve.NewIndexAlias(sel...), r)
}

// Count is the number of events in every day.
func (d *Daily) Count(ctx context.Context) (int64, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var n int64
	for _, ix := range d.days {
		c, err := ix.Count(ctx)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// Close closes every day's index.
func (d *Daily) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for name, ix := range d.days {
		errs = append(errs, ix.Close())
		delete(d.days, name)
	}
	return errors.Join(errs...)
}

// Run enforces the retention and the disk bound every interval until ctx
// ends.
func (d *Daily) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := d.Enforce(); err != nil {
			d.opt.Log.Warn("live index retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Enforce drops the days past the retention, then the oldest days while
// the index is over its disk bound, and reports the disk use.
func (d *Daily) Enforce() error {
	today := d.opt.Now().UTC().Truncate(24 * time.Hour)
	d.mu.Lock()
	defer d.mu.Unlock()
	type day struct {
		name  string
		t     time.Time
		bytes int64
	}
	var days []day
	var total int64
	for name := range d.days {
		t, _ := dayOf(name)
		n := dirBytes(filepath.Join(d.dir, name))
		days = append(days, day{name, t, n})
		total += n
	}
	sort.Slice(days, func(i, j int) bool { return days[i].t.Before(days[j].t) || days[i].t.Equal(days[j].t) && days[i].name < days[j].name })
	var errs []error
	for _, dy := range days {
		reason := ""
		switch {
		case d.opt.Retention > 0 && dy.t.Before(today.AddDate(0, 0, 1-d.opt.Retention)):
			reason = "retention"
		case d.opt.MaxBytes > 0 && total > d.opt.MaxBytes && dy.t.Before(today):
			reason = "disk"
		default:
			continue
		}
		if err := d.drop(dy.name); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= dy.bytes
		d.m.dropped.WithLabelValues(reason).Inc()
		d.opt.Log.Info("live index day dropped", "index", dy.name, "reason", reason, "bytes", dy.bytes)
	}
	d.m.bytes.Set(float64(total))
	d.m.days.Set(float64(len(d.days)))
	return errors.Join(errs...)
}

func (d *Daily) drop(name string) error {
	if ix := d.days[name]; ix != nil {
		_ = ix.Close()
		delete(d.days, name)
	}
	return os.RemoveAll(filepath.Join(d.dir, name))
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

type dailyMetrics struct {
	bytes, days prometheus.Gauge
	dropped     *prometheus.CounterVec
}

func newDailyMetrics(reg prometheus.Registerer) (*dailyMetrics, error) {
	const ns, sub = "hindsight", "live_index"
	m := &dailyMetrics{
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "disk_bytes",
			Help: "Bytes the live embedded index uses on disk (measured at each retention pass)."}),
		days: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "indices",
			Help: "Daily indices (dataset and day) the live embedded index holds."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "indices_dropped_total",
			Help: "Daily indices dropped, by reason: retention (older than --live-retention) or disk (over --live-max-bytes)."}, []string{"reason"}),
	}
	m.dropped.WithLabelValues("retention")
	m.dropped.WithLabelValues("disk")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bytes, m.days, m.dropped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
