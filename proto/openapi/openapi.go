// Package openapi carries the OpenAPI v2 document of Hindsight's REST API,
// generated from the protos by //tools/proto:openapi and checked in here so that
// plain `go build` works; //tools/proto:generated_test keeps it fresh.
package openapi

import _ "embed"

// Spec is the merged OpenAPI v2 (Swagger) document of all four APIs, as JSON.
//
//go:embed hindsight.swagger.json
var Spec []byte
