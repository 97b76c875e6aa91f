package bakeoff

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// victoriaLogs is VictoriaLogs' storage library: columnar blocks per log
// stream (here dataset + host), bloom filters over each column's words,
// per-day partitions; queries are LogsQL.
type victoriaLogs struct{ s *logstorage.Storage }

func openVictoriaLogs(dir string) (engine, error) {
	s := logstorage.MustOpenStorage(dir, &logstorage.StorageConfig{
		Retention:       100 * 365 * 24 * time.Hour,
		FutureRetention: 100 * 365 * 24 * time.Hour,
		FlushInterval:   time.Second,
	})
	return &victoriaLogs{s}, nil
}

var tenant = logstorage.TenantID{}

func (e *victoriaLogs) ingest(evs []ev) error {
	lr := logstorage.GetLogRows([]string{"data_stream.dataset", "host.name"}, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)
	p := logstorage.GetJSONParser()
	defer logstorage.PutJSONParser(p)
	for i, v := range evs {
		if err := p.ParseLogMessage(v.src, nil, ""); err != nil {
			return err
		}
		// The event id is a field too: searches return it.
		lr.MustAdd(tenant, v.t.UnixNano(), p.Fields, -1)
		if lr.RowsCount() == 10000 || i == len(evs)-1 {
			e.s.MustAddRows(lr)
			lr.ResetKeepSettings()
		}
	}
	e.s.DebugFlush()
	// On disk, as the other engines are when ingest returns (a snapshot
	// writes the in-memory parts to files; it is dropped at once).
	for _, p := range e.s.PartitionSnapshotMustCreate("") {
		_ = e.s.PartitionSnapshotDelete(p)
	}
	return nil
}

func (e *victoriaLogs) run(q string) (map[string][]string, error) {
	pq, err := logstorage.ParseQuery(q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	var mu sync.Mutex
	out := map[string][]string{}
	qctx := logstorage.NewQueryContext(context.Background(), &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, pq, false, nil)
	err = e.s.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range db.GetColumns(false) {
			out[c.Name] = append(out[c.Name], c.Values...)
		}
	})
	return out, err
}

func vlRange(from, to time.Time) string {
	return fmt.Sprintf("_time:[%s, %s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
}

// search is what a page needs: the newest 50 hits, the total, and with
// buckets the histogram; three queries over the same filter.
func (e *victoriaLogs) search(filter string, from, to time.Time, buckets bool) (int64, error) {
	f := vlRange(from, to) + " " + filter
	if _, err := e.run(f + " | sort by (_time desc) | limit 50"); err != nil {
		return 0, err
	}
	res, err := e.run(f + " | stats count() hits")
	if err != nil {
		return 0, err
	}
	if buckets {
		if _, err := e.run(f + " | stats by (_time:6m) count() hits"); err != nil {
			return 0, err
		}
	}
	if len(res["hits"]) != 1 {
		return 0, fmt.Errorf("%s: no count", f)
	}
	return strconv.ParseInt(res["hits"][0], 10, 64)
}

func (e *victoriaLogs) termRangeHistogram(from, to time.Time) (int64, error) {
	return e.search(`http.response.status_code:=500`, from, to, true)
}

// needle names the message field: a bare LogsQL word searches _msg, which
// these documents (ECS: "message") do not fill.
func (e *victoriaLogs) needle(w string, from, to time.Time) (int64, error) {
	return e.search("message:"+w, from, to, false)
}

func (e *victoriaLogs) close() error { e.s.MustClose(); return nil }
