package opensearch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hindsight-dev/hindsight/services/replay/index"
)

// TestPutReportsEveryRejectedDocument: a document rejected (400) by the
// first bulk attempt stays reported when a later attempt stores the
// documents that were only pushed back (429).
func TestPutReportsEveryRejectedDocument(t *testing.T) {
	var mu sync.Mutex
	attempt := 0
	stored := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_bulk" && !strings.HasSuffix(r.URL.Path, "/_bulk") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"acknowledged":true}`))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		attempt++
		var items []any
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var action struct {
				Index struct {
					ID string `json:"_id"`
				} `json:"index"`
			}
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
				t.Errorf("action line: %v", err)
			}
			sc.Scan() // the document
			id := action.Index.ID
			res := map[string]any{"_id": id, "status": 201}
			switch {
			case id == "bad":
				res = map[string]any{"_id": id, "status": 400, "error": map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse field [x]"}}
			case id == "busy" && attempt == 1:
				res = map[string]any{"_id": id, "status": 429, "error": map[string]any{"type": "es_rejected_execution_exception", "reason": "queue full"}}
			default:
				stored[id] = true
			}
			items = append(items, map[string]any{"index": res})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": true, "items": items})
	}))
	defer srv.Close()

	b, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ix, _, err := b.Open(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"message":"m"}`)
	err = ix.Put(context.Background(), []index.Doc{{ID: "ok", Source: doc}, {ID: "bad", Source: doc}, {ID: "busy", Source: doc}})
	if !stored["ok"] || !stored["busy"] || stored["bad"] {
		t.Fatalf("stored %v, want ok and busy", stored)
	}
	var rejects index.Rejects
	if !errors.As(err, &rejects) || len(rejects) != 1 || rejects[0].ID != "bad" || !strings.Contains(rejects[0].Reason, "mapper_parsing_exception") {
		t.Fatalf("Put = %v, want the rejection of document bad reported", err)
	}
	if attempt != 2 {
		t.Fatalf("%d bulk attempts, want 2", attempt)
	}
}
