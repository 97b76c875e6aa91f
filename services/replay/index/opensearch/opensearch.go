// Package opensearch gives each replay its own index in a shared OpenSearch
// (or Elasticsearch-compatible) cluster: the concrete index
// "hindsight-replay-<name>" behind the alias "replay-<name>", which is what
// people point Dashboards at. Dropping a replay deletes the index, and its
// alias with it. Live searches go over the indexer's daily indices (logs-*)
// through the same Search.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	osgo "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/hindsight-dev/hindsight/services/replay/index"
)

// LivePattern matches the indexer's daily indices, logs-<dataset>-YYYY.MM.DD.
const LivePattern = "logs-*"

// IndexName and AliasName name a replay's index and alias.
func IndexName(replay string) string { return "hindsight-replay-" + replay }

// AliasName is the alias searches and people use.
func AliasName(replay string) string { return "replay-" + replay }

// mapping is every replay index's: one shard, no replica (a replay is a
// disposable copy of the archive), message analysed, @timestamp with
// nanoseconds, every other string one exact term.
const mapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
  "mappings": {
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 2048}}}],
    "properties": {
      "@timestamp": {"type": "date_nanos"},
      "message": {"type": "text"},
      "error": {"properties": {"message": {"type": "text"}}}
    }
  }
}`

// Backend creates and drops replay indices in one cluster.
type Backend struct {
	c *opensearchapi.Client
}

// New connects (lazily) to the cluster at url (http://host:9200; user info in
// the URL is used for basic auth).
func New(url string) (*Backend, error) {
	c, err := opensearchapi.NewClient(opensearchapi.Config{Client: osgo.Config{
		Addresses:  []string{url},
		MaxRetries: 3,
		// Retry overload as well as unavailability: the loader pushes hard.
		RetryOnStatus: []int{429, 502, 503, 504},
	}})
	if err != nil {
		return nil, fmt.Errorf("opensearch %s: %w", url, err)
	}
	return &Backend{c: c}, nil
}

// Open creates the replay's index and alias unless they exist.
func (b *Backend) Open(ctx context.Context, replay string) (index.Index, string, error) {
	name, alias := IndexName(replay), AliasName(replay)
	_, err := b.c.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: name, Body: strings.NewReader(mapping)})
	if err != nil && !isType(err, "resource_already_exists_exception") {
		return nil, "", fmt.Errorf("create index %s: %w", name, err)
	}
	if _, err := b.c.Indices.Alias.Put(ctx, opensearchapi.AliasPutReq{Indices: []string{name}, Alias: alias}); err != nil {
		return nil, "", fmt.Errorf("alias %s: %w", alias, err)
	}
	return &Index{c: b.c, write: name, read: alias}, alias, nil
}

// Drop deletes the replay's index (and so its alias).
func (b *Backend) Drop(ctx context.Context, replay string) error {
	_, err := b.c.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{IndexName(replay)}})
	if err != nil && !isType(err, "index_not_found_exception") {
		return fmt.Errorf("delete index %s: %w", IndexName(replay), err)
	}
	return nil
}

// Live is the read-only index over the live daily indices.
func (b *Backend) Live() index.Index { return &Index{c: b.c, read: LivePattern} }

// Ping checks that the cluster answers.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.c.Cluster.Health(ctx, nil)
	return err
}

func isType(err error, typ string) bool {
	var se *osgo.StructError
	return errors.As(err, &se) && se.Err.Type == typ
}

// Index is one replay's index (or the live indices, read-only).
type Index struct {
	c           *opensearchapi.Client
	write, read string
}

// bulkAttempts bounds the retries of documents the cluster pushed back.
const bulkAttempts = 8

// Put sends docs in one _bulk request with their ids, retrying the
// documents refused for overload (429) or a failing node (5xx) with backoff.
// Documents rejected for themselves (a mapping conflict) are reported in the
// error after the others are indexed.
func (ix *Index) Put(ctx context.Context, docs []index.Doc) error {
	if ix.write == "" {
		return errors.New("live indices are read-only")
	}
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, rejected, err := ix.bulk(ctx, docs)
		if err == nil && len(retry) == 0 {
			return rejected
		}
		if attempt == bulkAttempts {
			return errors.Join(err, rejected, fmt.Errorf("bulk: %d documents not indexed after %d attempts", len(retry), attempt))
		}
		if err == nil {
			docs = retry
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// bulk sends one request; it returns the documents to retry, and an error
// for the documents rejected outright.
func (ix *Index) bulk(ctx context.Context, docs []index.Doc) (retry []index.Doc, rejected, err error) {
	var body bytes.Buffer
	for _, d := range docs {
		body.WriteString(`{"index":{"_id":`)
		id, _ := json.Marshal(d.ID)
		body.Write(id)
		body.WriteString("}}\n")
		body.Write(d.Source)
		body.WriteByte('\n')
	}
	resp, err := ix.c.Bulk(ctx, opensearchapi.BulkReq{Index: ix.write, Body: &body})
	if err != nil {
		return docs, nil, fmt.Errorf("bulk: %w", err)
	}
	if !resp.Errors {
		return nil, nil, nil
	}
	var bad []string
	for i, item := range resp.Items {
		for _, r := range item {
			switch {
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				retry = append(retry, docs[i])
			case r.Error != nil:
				bad = append(bad, fmt.Sprintf("%s: %s", r.ID, r.Error.Reason))
			}
		}
	}
	if len(bad) > 0 {
		rejected = fmt.Errorf("%d events rejected by OpenSearch, first: %s", len(bad), bad[0])
	}
	return retry, rejected, nil
}

// Refresh makes every document put so far searchable.
func (ix *Index) Refresh(ctx context.Context) error {
	_, err := ix.c.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{ix.read}})
	return err
}

// Count is the number of documents.
func (ix *Index) Count(ctx context.Context) (int64, error) {
	r, err := ix.c.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{ix.read}})
	if err != nil {
		return 0, err
	}
	return int64(r.Count), nil
}

// Close does nothing: the client is shared.
func (ix *Index) Close() error { return nil }
