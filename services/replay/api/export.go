package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

const (
	// exportPage is how many events an export reads from the index at once.
	exportPage       = 500
	maxExportColumns = 50
	maxColumnName    = 256
)

// defaultExportColumns are the CSV columns when a request names none: the
// search table's.
var defaultExportColumns = []string{"@timestamp", "data_stream.dataset", "log.level", "service.name", "message"}

// ExportSearch streams a search's events, one line a message (the gateway
// ends each with a newline): NDJSON documents, or a CSV header and rows.
// Pages are read from the index as the stream is sent, so memory stays at
// one page whatever the export's size.
func (s *Service) ExportSearch(req *replayv1.ExportSearchRequest, stream replayv1.ReplayService_ExportSearchServer) error {
	ctx := stream.Context()
	var v badrequest.Violations
	limit := count(&v, "max_events", req.GetMaxEvents(), maxWindow)
	if limit > maxWindow {
		v.Add("max_events", "at most %d events are exported: narrow the query or the range", maxWindow)
	}
	columns := req.GetColumns()
	if len(columns) > maxExportColumns {
		v.Add("columns", "%d columns, at most %d allowed", len(columns), maxExportColumns)
	}
	for i, c := range columns {
		if c == "" || len(c) > maxColumnName {
			v.Add("columns["+strconv.Itoa(i)+"]", "must be a field name of 1 to %d bytes", maxColumnName)
		}
	}
	if len(columns) == 0 {
		columns = defaultExportColumns
	}
	sc, err := s.scope(ctx, req.GetSearch(), "search.", &v)
	if err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return err
	}
	csvOut := req.GetFormat() == replayv1.ExportSearchRequest_FORMAT_CSV
	contentType := "application/x-ndjson"
	if csvOut {
		contentType = "text/csv; charset=utf-8"
		if err := stream.Send(&httpbody.HttpBody{ContentType: contentType, Data: csvLine(columns)}); err != nil {
			return err
		}
	}
	for offset := 0; offset < limit; {
		ir := sc.request()
		ir.Offset, ir.Size = offset, min(exportPage, limit-offset)
		res, err := sc.ix.Search(ctx, ir)
		if err != nil {
			return status.Errorf(codes.Unavailable, "export: %v", err)
		}
		for _, h := range res.Hits {
			line := bytes.TrimRight(h, "\n")
			if csvOut {
				line = csvRow(h, columns)
			}
			if err := stream.Send(&httpbody.HttpBody{ContentType: contentType, Data: line}); err != nil {
				return err
			}
		}
		offset += len(res.Hits)
		if len(res.Hits) < ir.Size {
			break
		}
	}
	return nil
}

// csvLine is one CSV record without its line end.
func csvLine(fields []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(fields)
	w.Flush()
	return bytes.TrimRight(b.Bytes(), "\r\n")
}

// csvRow is a document's values of columns (dotted paths; lists joined by
// ", ", objects as JSON).
func csvRow(doc []byte, columns []string) []byte {
	var m map[string]any
	json.Unmarshal(doc, &m)
	row := make([]string, len(columns))
	for i, c := range columns {
		row[i] = cell(lookup(m, c))
	}
	return csvLine(row)
}

// lookup finds a dotted path in a document, whether its parts are nested
// objects or keys holding dots.
func lookup(m map[string]any, path string) any {
	if v, ok := m[path]; ok {
		return v
	}
	for i := strings.IndexByte(path, '.'); i > 0; i = next(path, i) {
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v := lookup(sub, path[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

func next(path string, i int) int {
	j := strings.IndexByte(path[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, c := range v {
			parts[i] = cell(c)
		}
		return strings.Join(parts, ", ")
	default: // numbers, booleans, objects

		b, _ := json.Marshal(v)
		return string(b)
	}
}
