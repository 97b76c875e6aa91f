package bakeoff

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// duckDB is DuckDB (cgo, its static library): one columnar table, fed by
// its appender. Full-text search is an extension DuckDB downloads at run
// time, which this machine cannot, so words are matched with ILIKE scans.
type duckDB struct {
	conn *duckdb.Connector
	db   *sql.DB
}

func openDuckDB(dir string) (engine, error) {
	c, err := duckdb.NewConnector(filepath.Join(dir, "events.duckdb"), nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	_, err = db.Exec(`CREATE TABLE events (id VARCHAR, ts TIMESTAMP, dataset VARCHAR, host VARCHAR, method VARCHAR, status INTEGER,
		bytes INTEGER, path VARCHAR, ip VARCHAR, ua VARCHAR, message VARCHAR, source VARCHAR)`)
	return &duckDB{c, db}, err
}

func (e *duckDB) ingest(evs []ev) error {
	conn, err := e.conn.Connect(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	a, err := duckdb.NewAppenderFromConn(conn, "", "events")
	if err != nil {
		return err
	}
	for _, v := range evs {
		var d struct {
			Timestamp string `json:"@timestamp"`
			Message   string `json:"message"`
			Host      struct {
				Name string `json:"name"`
			} `json:"host"`
			DataStream struct {
				Dataset string `json:"dataset"`
			} `json:"data_stream"`
			Method string `json:"http.request.method"`
			Status int    `json:"http.response.status_code"`
			Bytes  int    `json:"http.response.body.bytes"`
			Path   string `json:"url.path"`
			IP     string `json:"source.ip"`
			UA     string `json:"user_agent.original"`
		}
		if err := json.Unmarshal(v.src, &d); err != nil {
			return err
		}
		ts, _ := time.Parse(time.RFC3339Nano, d.Timestamp)
		if err := a.AppendRow(v.id, ts, d.DataStream.Dataset, d.Host.Name, d.Method, int32(d.Status), int32(d.Bytes), d.Path, d.IP, d.UA, d.Message, string(v.src)); err != nil {
			return err
		}
	}
	return a.Close()
}

func (e *duckDB) page(where string, args []driver.Value, buckets bool) (int64, error) {
	a := make([]any, len(args))
	for i, v := range args {
		a[i] = v
	}
	rows, err := e.db.Query(`SELECT source FROM events WHERE `+where+` ORDER BY ts DESC, id DESC LIMIT 50`, a...)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
	}
	rows.Close()
	var n int64
	if err := e.db.QueryRow(`SELECT count(*) FROM events WHERE `+where, a...).Scan(&n); err != nil {
		return 0, err
	}
	if buckets {
		rows, err := e.db.Query(`SELECT time_bucket(INTERVAL 6 MINUTE, ts) b, count(*) FROM events WHERE `+where+` GROUP BY b`, a...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		rows.Close()
	}
	return n, nil
}

func (e *duckDB) termRangeHistogram(from, to time.Time) (int64, error) {
	return e.page(`ts >= ? AND ts < ? AND status = 500`, []driver.Value{from, to}, true)
}

func (e *duckDB) needle(w string, from, to time.Time) (int64, error) {
	return e.page(`ts >= ? AND ts < ? AND message ILIKE ?`, []driver.Value{from, to, "%" + w + "%"}, false)
}

func (e *duckDB) close() error { e.db.Close(); return e.conn.Close() }
