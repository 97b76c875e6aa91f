package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

// liveEnv is a service whose live index holds one request seen by nginx,
// the app and the database, 30 times (the app's log level cycling info,
// info, error).
func liveEnv(t *testing.T) (*env, time.Time) {
	t.Helper()
	ix, err := embedded.Open(filepath.Join(t.TempDir(), "live"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var docs []index.Doc
	for i := range 30 {
		id := fmt.Sprintf("req-%03d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		level := []string{"info", "info", "error"}[i%3]
		for j, d := range []map[string]any{
			{"data_stream": map[string]any{"dataset": "nginx.access"}, "http.request.id": id, "message": "GET /api", "log": map[string]any{"level": "info"}},
			{"data_stream": map[string]any{"dataset": "app"}, "request_id": id, "message": "handled", "service": map[string]any{"name": "api"}, "log": map[string]any{"level": level}},
			{"data_stream": map[string]any{"dataset": "db"}, "request_id": id, "message": "SELECT 1", "service": map[string]any{"name": "postgres"}, "http.response.status_code": 200},
		} {
			when := at.Add(time.Duration(j) * time.Millisecond)
			d["@timestamp"] = when.Format(time.RFC3339Nano)
			d["event"] = map[string]any{"id": fmt.Sprintf("%s-%d", id, j)}
			src, _ := json.Marshal(d)
			docs = append(docs, index.Doc{ID: fmt.Sprintf("%s-%d", id, j), Time: when, Source: src, Fields: d})
		}
	}
	if err := ix.Put(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	en := newEnv(t, func(c *Config) {
		c.Live = ix
		c.Now = func() time.Time { return base.Add(time.Hour) }
	})
	return en, base
}

func TestFieldStatsCountAllMatchingEvents(t *testing.T) {
	en, _ := liveEnv(t)
	resp, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Query: "NOT message:SELECT", PageSize: 5, FieldStats: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTotal() != 60 {
		t.Fatalf("total %d, want 60", resp.GetTotal())
	}
	got := map[string]string{}
	for _, f := range resp.GetFields() {
		var parts []string
		for _, v := range f.GetTop() {
			parts = append(parts, fmt.Sprintf("%s=%d", v.GetValue(), v.GetCount()))
		}
		got[f.GetName()] = strings.Join(parts, " ")
	}
	// Counted over all 60 events, not the page's 5; message (text) and the
	// timestamp are not fields with top values, nor the unique event id.
	want := map[string]string{
		"data_stream.dataset": "app=30 nginx.access=30",
		"log.level":           "info=50 error=10",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], w, got)
		}
	}
	for _, k := range []string{"message", "@timestamp", "event.id"} {
		if _, ok := got[k]; ok {
			t.Errorf("field stats of %s", k)
		}
	}
	if len(resp.GetCorrelationFields()) == 0 {
		t.Error("no correlation fields in the response")
	}
	if n := resp.GetFieldStatsSample(); n != 0 {
		t.Errorf("field stats over a sample of %d of 60 events, want every one counted", n)
	}
}

func TestFollowFindsOneRequestInEveryDataset(t *testing.T) {
	en, _ := liveEnv(t)
	resp, err := en.svc.Search(context.Background(), &replayv1.SearchRequest{Follow: "req-007", Sort: replayv1.SearchRequest_SORT_OLDEST_FIRST})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.GetEvents() {
		got = append(got, e.GetDataset())
	}
	if strings.Join(got, ",") != "nginx.access,app,db" {
		t.Fatalf("followed req-007 to %v, want nginx.access, app, db in time order", got)
	}
	// With a query, both hold.
	resp, err = en.svc.Search(context.Background(), &replayv1.SearchRequest{Follow: "req-007", Query: "data_stream.dataset:db"})
	if err != nil || resp.GetTotal() != 1 {
		t.Fatalf("follow and query: %d events, %v", resp.GetTotal(), err)
	}
	_, err = en.svc.Search(context.Background(), &replayv1.SearchRequest{Follow: strings.Repeat("x", 2000)})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "follow") {
		t.Fatalf("a 2000-byte follow: %v", err)
	}
}

type exportStream struct {
	grpc.ServerStream
	buf bytes.Buffer
}

func (s *exportStream) Context() context.Context { return context.Background() }

// Send writes as the gateway does: each message, then a newline.
func (s *exportStream) Send(b *httpbody.HttpBody) error {
	s.buf.Write(b.GetData())
	s.buf.WriteByte('\n')
	return nil
}

func TestExportStreamsEveryEvent(t *testing.T) {
	en, base := liveEnv(t)
	search := &replayv1.SearchRequest{Query: "request_id:*", From: timestamppb.New(base), To: timestamppb.New(base.Add(time.Hour))}
	var nd exportStream
	if err := en.svc.ExportSearch(&replayv1.ExportSearchRequest{Search: search}, &nd); err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(&nd.buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		lines++
	}
	if lines != 60 {
		t.Fatalf("NDJSON export of %d lines, want the 60 app and db events", lines)
	}

	var cs exportStream
	err := en.svc.ExportSearch(&replayv1.ExportSearchRequest{Search: search, Format: replayv1.ExportSearchRequest_FORMAT_CSV, MaxEvents: 7,
		Columns: []string{"data_stream.dataset", "request_id", "http.response.status_code"}}, &cs)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs.buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 || strings.Join(rows[0], ",") != "data_stream.dataset,request_id,http.response.status_code" {
		t.Fatalf("CSV of %d rows (want a header and 7), header %v", len(rows), rows[0])
	}
	if r := rows[1]; r[0] != "db" || r[1] != "req-029" || r[2] != "200" {
		t.Fatalf("newest row %v, want db, req-029, 200", r)
	}

	for _, bad := range []struct {
		req   *replayv1.ExportSearchRequest
		field string
	}{
		{&replayv1.ExportSearchRequest{Search: search, MaxEvents: 10001}, "max_events"},
		{&replayv1.ExportSearchRequest{Search: &replayv1.SearchRequest{Query: "(("}}, "search.query"},
		{&replayv1.ExportSearchRequest{Search: search, Columns: []string{""}}, "columns[0]"},
		{&replayv1.ExportSearchRequest{Search: search, Columns: make([]string, 51)}, "columns"},
	} {
		err := en.svc.ExportSearch(bad.req, &exportStream{})
		if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("export naming %s: %v", bad.field, err)
		}
	}
}
