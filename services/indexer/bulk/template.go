package bulk

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
)

// TemplateName is the composable index template the indexer installs for
// logs-* indices. Its priority (200) is above Elasticsearch's built-in
// logs-*-* data stream template, so daily indices stay plain indices.
const TemplateName = "hindsight-logs"

//go:embed template.json
var template []byte

// ensureTemplate installs the index template once, before the first
// document: an index created without it would map @timestamp by guesswork.
func (ix *Indexer) ensureTemplate(ctx context.Context) error {
	if ix.tmplSet {
		return nil
	}
	_, err := ix.client.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{
		IndexTemplate: TemplateName,
		Body:          bytes.NewReader(template),
	})
	if err != nil {
		return fmt.Errorf("installing index template %s: %w", TemplateName, err)
	}
	ix.tmplSet = true
	ix.opt.Log.Info("index template installed", "template", TemplateName)
	return nil
}
