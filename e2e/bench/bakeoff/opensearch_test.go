package bakeoff

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hindsight-dev/hindsight/internal/index/opensearch"
)

var openSearchURL = flag.String("opensearch", "", "URL of a single-node OpenSearch (the e2e image) to run next to the embedded engine; none: not run")

// openSearch is the production engine through the index layer
// (internal/index/opensearch): one index with the one mapping, one shard,
// no replica, loaded through _bulk in the indexer's batches of 5 000 and
// refreshed before the searches, which are the embedded engine's requests.
type openSearch struct {
	hindsightEmbedded
	url, name string
}

func openOpenSearch(string) (engine, error) {
	if *openSearchURL == "" {
		return nil, errSkip
	}
	c, err := opensearch.New(opensearch.Config{URLs: []string{*openSearchURL}})
	if err != nil {
		return nil, err
	}
	const name = "bakeoff"
	if err := c.DeleteIndex(context.Background(), name); err != nil { // a previous run's
		return nil, err
	}
	if err := c.CreateIndex(context.Background(), name, ""); err != nil {
		return nil, err
	}
	return &openSearch{hindsightEmbedded: hindsightEmbedded{c.Index(name, name)}, url: *openSearchURL, name: name}, nil
}

// diskBytes is the index's store size as OpenSearch reports it.
func (e *openSearch) diskBytes() (int64, error) {
	resp, err := http.Get(e.url + "/" + e.name + "/_stats/store")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st struct {
		All struct {
			Total struct {
				Store struct {
					SizeInBytes int64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"total"`
		} `json:"_all"`
	}
	if err := json.Unmarshal(b, &st); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("store stats: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return st.All.Total.Store.SizeInBytes, nil
}
