package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
)

// fakeExport sends lines of the requested format: n documents, or a CSV
// header and n rows.
type fakeExport struct {
	replayv1.UnimplementedReplayServiceServer
	n int
}

func (f *fakeExport) ExportSearch(req *replayv1.ExportSearchRequest, st grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ct, line := "application/x-ndjson", `{"message":"x"}`
	if req.GetFormat() == replayv1.ExportSearchRequest_FORMAT_CSV {
		ct, line = "text/csv; charset=utf-8", "x"
		if err := st.Send(&httpbody.HttpBody{ContentType: ct, Data: []byte("message")}); err != nil {
			return err
		}
	}
	for range f.n {
		if err := st.Send(&httpbody.HttpBody{ContentType: ct, Data: []byte(line)}); err != nil {
			return err
		}
	}
	return nil
}

// An export answers in its format's content type, and an export of no
// events is an empty NDJSON body, not a 200 without a Content-Type.
func TestExportContentTypes(t *testing.T) {
	for _, tc := range []struct {
		n         int
		body, ct  string
		wantLines int
	}{
		{0, `{}`, "application/x-ndjson", 0},
		{2, `{}`, "application/x-ndjson", 2},
		{0, `{"format":"FORMAT_CSV"}`, "text/csv; charset=utf-8", 1},
		{2, `{"format":"FORMAT_CSV"}`, "text/csv; charset=utf-8", 3},
	} {
		addr := serve(t, func(s *grpc.Server) { replayv1.RegisterReplayServiceServer(s, &fakeExport{n: tc.n}) })
		ctx, cancel := context.WithCancel(context.Background())
		gw, err := api.New(ctx, api.Config{ReplayEndpoint: addr})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		resp, body := do(t, http.MethodPost, srv.URL+"/v1/search:export", tc.body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ct {
			t.Errorf("%d events, %s: %d %q, want 200 %q", tc.n, tc.body, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ct)
		}
		if lines := countLines(body); lines != tc.wantLines {
			t.Errorf("%d events, %s: %d lines %q, want %d", tc.n, tc.body, lines, body, tc.wantLines)
		}
		srv.Close()
		gw.Close()
		cancel()
	}
}

func countLines(b []byte) (n int) {
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
