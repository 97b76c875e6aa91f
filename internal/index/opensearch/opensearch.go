// Package opensearch is the index layer's OpenSearch (or Elasticsearch)
// backend: _bulk writes by event id with per-document outcomes, retried with
// backoff while the cluster pushes back, and searches translated from the
// query language. The indexer writes the daily indices through it, the
// replay service its replay indices and live search.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	osgo "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/hindsight-dev/hindsight/internal/index"
)

// Config says how to reach a cluster.
type Config struct {
	URLs           []string
	User, Password string
	// RequestTimeout bounds one request (default 30 s): a hung bulk must not
	// hold a consumer past its group's rebalance timeout.
	RequestTimeout time.Duration
}

// Client talks to one cluster.
type Client struct {
	api *opensearchapi.Client
}

// New returns a client (it connects lazily). With several URLs each request
// goes to the next node.
func New(cfg Config) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("opensearch: at least one URL required")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	api, err := opensearchapi.NewClient(opensearchapi.Config{Client: osgo.Config{
		Addresses: cfg.URLs,
		Username:  cfg.User,
		Password:  cfg.Password,
		// Retries are this package's own, per document and with backoff.
		DisableRetry:   true,
		RequestTimeout: cfg.RequestTimeout,
	}})
	if err != nil {
		return nil, fmt.Errorf("opensearch %v: %w", cfg.URLs, err)
	}
	return &Client{api: api}, nil
}

// Close releases idle connections.
func (c *Client) Close() { _ = c.api.Close() }

// Ping checks that the cluster answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.Cluster.Health(ctx, nil)
	return err
}

// EnsureTemplate installs (or updates) the daily indices' template.
func (c *Client) EnsureTemplate(ctx context.Context) error {
	_, err := c.api.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{
		IndexTemplate: index.TemplateName,
		Body:          bytes.NewReader(index.Template()),
	})
	if err != nil {
		return fmt.Errorf("installing index template %s: %w", index.TemplateName, err)
	}
	return nil
}

// CreateIndex creates a standalone index with the one mapping, and an alias
// to it, unless they exist.
func (c *Client) CreateIndex(ctx context.Context, name, alias string) error {
	_, err := c.api.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: name, Body: bytes.NewReader(index.IndexBody())})
	if err != nil && !isType(err, "resource_already_exists_exception") {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	if alias == "" {
		return nil
	}
	if _, err := c.api.Indices.Alias.Put(ctx, opensearchapi.AliasPutReq{Indices: []string{name}, Alias: alias}); err != nil {
		return fmt.Errorf("alias %s: %w", alias, err)
	}
	return nil
}

// DeleteIndex deletes an index (and its aliases); a missing one is no error.
func (c *Client) DeleteIndex(ctx context.Context, name string) error {
	_, err := c.api.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{name}})
	if err != nil && !isType(err, "index_not_found_exception") {
		return fmt.Errorf("delete index %s: %w", name, err)
	}
	return nil
}

func isType(err error, typ string) bool {
	var se *osgo.StructError
	return errors.As(err, &se) && se.Err.Type == typ
}

// Outcome is what became of one document of a bulk request.
type Outcome int

const (
	// Stored: the document is indexed.
	Stored Outcome = iota
	// Retry: the cluster pushed back (429, 5xx) or did not answer for it,
	// or refused for its own configuration (a missing index with automatic
	// creation off): none is the document's fault.
	Retry
	// Rejected: the document itself is wrong (400: a mapping conflict, an
	// unparsable field); sending it again cannot help.
	Rejected
)

// Result is one document's outcome, with the reason of a rejection.
type Result struct {
	Outcome Outcome
	Status  int
	Reason  string
}

// Bulk sends docs (each to its Index, or to def when it has none) in one
// _bulk request and returns each one's result. An error means the request
// as a whole failed: every document is to be retried.
func (c *Client) Bulk(ctx context.Context, def string, docs []index.Doc) ([]Result, error) {
	size := 0
	for _, d := range docs {
		size += len(d.Source) + len(d.ID) + len(d.Index) + len(def) + 40
	}
	body := make([]byte, 0, size)
	for _, d := range docs {
		ix := d.Index
		if ix == "" {
			ix = def
		}
		body = appendAction(body, ix, d.ID)
		body = append(body, d.Source...)
		body = append(body, '\n')
	}
	resp, err := c.api.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body)})
	// Per-document results come with status 200, even when the client also
	// reports partial failures as an error.
	if resp == nil || len(resp.Items) != len(docs) {
		status := 0
		if resp != nil && resp.Inspect().Response != nil {
			status = resp.Inspect().Response.StatusCode
		}
		if err == nil {
			err = fmt.Errorf("%d results for %d documents", len(resp.Items), len(docs))
		}
		return nil, fmt.Errorf("bulk request (status %d): %w", status, err)
	}
	out := make([]Result, len(docs))
	for i, item := range resp.Items {
		for _, r := range item {
			out[i] = result(r)
		}
	}
	return out, nil
}

func result(r opensearchapi.BulkRespItem) Result {
	switch {
	case r.Status >= 200 && r.Status < 300:
		return Result{Outcome: Stored, Status: r.Status}
	case r.Status == http.StatusBadRequest:
		reason := "rejected"
		if e := r.Error; e != nil {
			reason = e.Type + ": " + e.Reason
			if e.Cause.Type != "" {
				reason += " (caused by " + e.Cause.Type + ": " + e.Cause.Reason + ")"
			}
		}
		return Result{Outcome: Rejected, Status: r.Status, Reason: reason}
	}
	return Result{Outcome: Retry, Status: r.Status}
}

// Backoff is how Write retries.
type Backoff struct {
	// Attempts bounds the requests for one call (default 8).
	Attempts int
	// Min and Max bound the wait between attempts, doubling (defaults
	// 200 ms and 10 s).
	Min, Max time.Duration
}

// Write sends docs with Bulk until each is stored or rejected, retrying the
// others with backoff. The rejected documents of every attempt come back as
// index.Rejects (with any error that stopped the retries).
func (c *Client) Write(ctx context.Context, def string, docs []index.Doc, b Backoff) error {
	if b.Attempts <= 0 {
		b.Attempts = 8
	}
	if b.Min <= 0 {
		b.Min = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	var rejects index.Rejects
	wait := b.Min
	for attempt := 1; ; attempt++ {
		results, err := c.Bulk(ctx, def, docs)
		var retry []index.Doc
		if err != nil {
			retry = docs
		}
		for i, r := range results {
			switch r.Outcome {
			case Retry:
				retry = append(retry, docs[i])
			case Rejected:
				ix := docs[i].Index
				if ix == "" {
					ix = def
				}
				rejects = append(rejects, index.Reject{ID: docs[i].ID, Index: ix, Status: r.Status, Reason: r.Reason})
			}
		}
		if len(retry) == 0 {
			if len(rejects) > 0 {
				return rejects
			}
			return nil
		}
		if attempt == b.Attempts {
			err = errors.Join(err, fmt.Errorf("bulk: %d documents not indexed after %d attempts", len(retry), attempt))
			if len(rejects) > 0 {
				err = errors.Join(err, rejects)
			}
			return err
		}
		docs = retry
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), errOrNil(rejects))
		case <-time.After(wait):
		}
		wait = min(2*wait, b.Max)
	}
}

func errOrNil(r index.Rejects) error {
	if len(r) == 0 {
		return nil
	}
	return r
}

func appendAction(b []byte, index, id string) []byte {
	b = append(b, `{"index":{"_index":`...)
	b = appendJSON(b, index)
	b = append(b, `,"_id":`...)
	b = appendJSON(b, id)
	return append(b, "}}\n"...)
}

// appendJSON appends s as a JSON string; event ids and index names are
// plain ASCII and need no escaping, which is the fast path.
func appendJSON(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
