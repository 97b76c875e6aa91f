package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/gateway/api"
)

// fakeRouting counts the batches that reach it.
type fakeRouting struct {
	routingv1.UnimplementedRoutingServiceServer
	mu      sync.Mutex
	batches []*routingv1.Batch
}

func (f *fakeRouting) Ingest(st routingv1.RoutingService_IngestServer) error {
	for {
		req, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.batches = append(f.batches, req.GetBatch())
		f.mu.Unlock()
		ack := &routingv1.Ack{Sequence: req.GetBatch().GetSequence(), Accepted: int64(len(req.GetBatch().GetLines()))}
		if err := st.Send(&routingv1.IngestResponse{Ack: ack}); err != nil {
			return err
		}
	}
}

func (f *fakeRouting) IngestBatch(_ context.Context, b *routingv1.Batch) (*routingv1.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, b)
	return &routingv1.Ack{Sequence: b.GetSequence(), Accepted: int64(len(b.GetLines()))}, nil
}

func (f *fakeRouting) CreateDataset(_ context.Context, r *routingv1.CreateDatasetRequest) (*routingv1.Dataset, error) {
	return r.GetDataset(), nil
}

func (f *fakeRouting) DeleteDataset(_ context.Context, r *routingv1.DeleteDatasetRequest) (*routingv1.DeleteDatasetResponse, error) {
	return nil, status.Errorf(codes.FailedPrecondition, "dataset %q is declared in router.yaml", r.GetName())
}

func (f *fakeRouting) received() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

// startRouting runs the gateway in front of a fake routing backend, with a
// small body limit.
func startRouting(t *testing.T) (*fakeRouting, string) {
	t.Helper()
	fake := &fakeRouting{}
	addr := serve(t, func(s *grpc.Server) { routingv1.RegisterRoutingServiceServer(s, fake) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := api.New(ctx, api.Config{RoutingEndpoint: addr, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

const goodBatch = `{"batch": {"sequence": "%d", "dataset": "app", "lines": [{"source": {"host": "h1", "fileId": "f", "offset": "%d"}, "line": "aGVsbG8="}]}}`

// fieldsOf lists the field paths of a 400's google.rpc.BadRequest detail.
func fieldsOf(t *testing.T, b []byte) []string {
	t.Helper()
	var fields []string
	details, _ := decode(t, b)["details"].([]any)
	for _, d := range details {
		d := d.(map[string]any)
		if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		for _, f := range d["fieldViolations"].([]any) {
			fields = append(fields, f.(map[string]any)["field"].(string))
		}
	}
	return fields
}

func TestIngestStreamWithABadLineIngestsNothing(t *testing.T) {
	fake, url := startRouting(t)
	good := fmt.Sprintf(goodBatch, 1, 0)
	for _, tc := range []struct{ name, body, field, desc string }{
		{"malformed JSON", good + "\n" + `{"batch": {"dataset": "app", "lines": [{]}}`, "batch.lines[0]", "message 2 (line 2)"},
		{"unknown field", good + "\n" + `{"batch": {"dataset": "app", "sequnce": "2"}}`, "batch.sequnce", "message 2 (line 2)"},
		{"invalid base64", good + "\n\n" + `{"batch": {"dataset": "app", "lines": [{"source": {"host": "h"}, "line": "%%%"}]}}`, "batch.lines[0].line", "message 2 (line 3)"},
		{"empty body", "", "", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := do(t, "POST", url+"/v1/ingest:stream", tc.body)
			t.Logf("-> %d %s", resp.StatusCode, b)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if f := fieldsOf(t, b); len(f) != 1 || f[0] != tc.field {
				t.Errorf("fields %q, want %q", f, tc.field)
			}
			if !strings.Contains(string(b), tc.desc) {
				t.Errorf("error does not say %q", tc.desc)
			}
			if n := fake.received(); n != 0 {
				t.Fatalf("%d batches reached the router; a refused stream must ingest nothing", n)
			}
		})
	}
	resp, b := do(t, "POST", url+"/v1/ingest:stream", good+"\n"+fmt.Sprintf(goodBatch, 2, 6))
	if resp.StatusCode != 200 || strings.Count(string(b), `"ack"`) != 2 || fake.received() != 2 {
		t.Fatalf("good stream: %d %s, %d batches received", resp.StatusCode, b, fake.received())
	}
}

func TestStatusCodes(t *testing.T) {
	_, url := startRouting(t)
	resp, b := do(t, "PUT", url+"/v1/datasets/app", `{}`)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE, GET, PATCH" {
		t.Errorf("PUT on a dataset: %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), b)
	}
	if resp, b := do(t, "GET", url+"/v1/ingest", ""); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/ingest: %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), b)
	}
	if resp, b := do(t, "GET", url+"/v1/nowhere/at/all", ""); resp.StatusCode != 404 || decode(t, b)["code"] != 5.0 {
		t.Errorf("unknown path: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "DELETE", url+"/v1/datasets/app", ""); resp.StatusCode != 409 || decode(t, b)["code"] != 9.0 {
		t.Errorf("FailedPrecondition: %d %s; want 409", resp.StatusCode, b)
	}
	big := `{"name": "app", "description": "` + strings.Repeat("x", 5000) + `"}`
	if resp, b := do(t, "POST", url+"/v1/datasets", big); resp.StatusCode != 413 {
		t.Errorf("oversized body: %d %s", resp.StatusCode, b)
	}
}

func TestBadRequestsNameTheJSONPath(t *testing.T) {
	_, url := startRouting(t)
	for _, tc := range []struct{ name, path, body, field string }{
		{"syntax", "/v1/datasets", `{"name": "app", "topic": {"partitions": }}`, "topic.partitions"},
		{"wrong type", "/v1/datasets", `{"name": "app", "topic": {"partitions": "3"}}`, "topic.partitions"},
		{"numeric enum", "/v1/datasets", `{"name": "app", "parser": {"format": 1}}`, "parser.format"},
		{"unknown enum", "/v1/datasets", `{"name": "app", "parser": {"format": "FORMAT_XML"}}`, "parser.format"},
		{"64-bit integer as a number", "/v1/datasets", `{"name": "app", "topic": {"retentionBytes": 100}}`, "topic.retentionBytes"},
		{"proto name", "/v1/datasets", `{"name": "app", "topic": {"retention_bytes": "100"}}`, "topic.retention_bytes"},
		{"null", "/v1/datasets", `{"name": "app", "parser": null}`, "parser"},
		{"bad duration", "/v1/datasets", `{"name": "app", "topic": {"retention": "1 day"}}`, "topic.retention"},
		{"missing body", "/v1/datasets", ``, ""},
		{"two values", "/v1/datasets", `{"name": "app"} {}`, ""},
		{"query type", "/v1/routes?dataset=app&dataset=b", ``, "dataset"},
		{"unknown query", "/v1/datasets?pageSize=3", ``, "pageSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == "" && strings.Contains(tc.path, "?") {
				method = "GET"
			}
			resp, b := do(t, method, url+tc.path, tc.body)
			t.Logf("-> %d %s", resp.StatusCode, b)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if f := fieldsOf(t, b); len(f) != 1 || f[0] != tc.field {
				t.Errorf("fields %q, want [%q]", f, tc.field)
			}
		})
	}
}
