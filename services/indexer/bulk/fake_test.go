package bulk_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// fakeSearch plays the part of OpenSearch's _bulk and _index_template
// endpoints, with switches for the failures the indexer must survive.
type fakeSearch struct {
	srv *httptest.Server

	mu       sync.Mutex
	docs     map[string]map[string]json.RawMessage // index -> _id -> document
	template json.RawMessage
	bulks    int // bulk requests answered with per-item results
	// down drops every connection unanswered, as a dead node does.
	down bool
	// requestErrors answers the next bulk requests with this status each
	// (a whole-request 429 or 503).
	requestErrors []int
	// itemErrors answers this many documents with 429, one by one.
	itemErrors int
	// rejectIf answers 400 mapper_parsing_exception for matching documents.
	rejectIf func(doc []byte) bool
}

func newFakeSearch(t *testing.T) *fakeSearch {
	f := &fakeSearch{docs: map[string]map[string]json.RawMessage{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSearch) set(fn func(f *fakeSearch)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// count is the number of documents stored.
func (f *fakeSearch) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ids := range f.docs {
		n += len(ids)
	}
	return n
}

func (f *fakeSearch) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/_index_template/"+index.TemplateName:
		if err := json.NewDecoder(r.Body).Decode(&f.template); err != nil {
			reply(w, 400, map[string]any{"error": map[string]any{"type": "parse_exception", "reason": err.Error()}, "status": 400})
			return
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		if len(f.requestErrors) > 0 {
			status := f.requestErrors[0]
			f.requestErrors = f.requestErrors[1:]
			reply(w, status, map[string]any{"error": map[string]any{"type": "es_rejected_execution_exception", "reason": "busy"}, "status": status})
			return
		}
		f.bulk(w, r)
	case r.URL.Path == "/":
		reply(w, 200, map[string]any{"version": map[string]any{"distribution": "opensearch", "number": "2.19.0"}})
	default:
		reply(w, 404, map[string]any{"error": "no handler for " + r.URL.Path, "status": 404})
	}
}

func (f *fakeSearch) bulk(w http.ResponseWriter, r *http.Request) {
	f.bulks++
	var items []map[string]any
	errors := false
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var action struct {
			Index struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"index"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Index.Index == "" || !sc.Scan() {
			reply(w, 400, map[string]any{"error": map[string]any{"type": "illegal_argument_exception", "reason": fmt.Sprintf("malformed action line %q", sc.Text())}, "status": 400})
			return
		}
		doc := bytes.Clone(sc.Bytes())
		res := map[string]any{"_index": action.Index.Index, "_id": action.Index.ID}
		switch {
		case !json.Valid(doc):
			res["status"], res["error"] = 400, map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse"}
		case f.rejectIf != nil && f.rejectIf(doc):
			res["status"], res["error"] = 400, map[string]any{
				"type": "mapper_parsing_exception", "reason": "failed to parse field [http.response.status_code] of type [long]",
				"caused_by": map[string]any{"type": "number_format_exception", "reason": `For input string: "abc"`},
			}
		case f.itemErrors > 0:
			f.itemErrors--
			res["status"], res["error"] = 429, map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution"}
		default:
			if f.docs[action.Index.Index] == nil {
				f.docs[action.Index.Index] = map[string]json.RawMessage{}
			}
			_, exists := f.docs[action.Index.Index][action.Index.ID]
			f.docs[action.Index.Index][action.Index.ID] = doc
			res["status"], res["result"] = 201, "created"
			if exists {
				res["status"], res["result"] = 200, "updated"
			}
		}
		if res["status"] != 200 && res["status"] != 201 {
			errors = true
		}
		items = append(items, map[string]any{"index": res})
	}
	reply(w, 200, map[string]any{"took": 1, "errors": errors, "items": items})
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// idsIn lists the ids stored in indices whose names start with prefix.
func (f *fakeSearch) idsIn(prefix string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for index, ids := range f.docs {
		if strings.HasPrefix(index, prefix) {
			for id := range ids {
				out[id] = index
			}
		}
	}
	return out
}
