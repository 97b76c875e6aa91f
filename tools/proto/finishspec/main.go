// Command finishspec completes the OpenAPI v2 document protoc-gen-openapiv2
// writes from the protos with what the protos cannot say, so that the
// document describes exactly what the gateway accepts and answers:
//
//   - info: the API's title and the build's version (flags); tag descriptions;
//   - the bearer-token security scheme, required by every operation;
//   - "additionalProperties": false on every message: the gateway refuses
//     unknown fields (proto maps keep their own additionalProperties);
//   - server streams answer application/x-ndjson (one JSON object a line),
//     and their errors may be the stream's {"error": ...} chunk;
//   - the string constraints of a list of strings apply to its items;
//   - query parameters carry the bounds their fields declare (the generator
//     copies only patterns there);
//   - references without siblings (readOnly moves onto an allOf);
//   - the string forms of the proto JSON mapping as patterns: 64-bit
//     integers are decimal strings, times are RFC 3339 with an upper-case T
//     and Z or an offset and at most nine fraction digits (protojson's
//     Timestamp form), where a field declares no pattern of its own.
//
// Field constraints (patterns, lengths, ranges, required) are not added
// here: they are field options in the protos, which the servers enforce
// through internal/validate.
//
//	finishspec -title T -version V -in raw.swagger.json -out hindsight.swagger.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hindsight-dev/hindsight/internal/validate"
	// The APIs' descriptors, for the field options of query parameters.
	_ "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	_ "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	_ "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	_ "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// Patterns of the proto JSON mapping's string forms: 64-bit integers (in
// their exact ranges) and times (the gateway's own, validate.TimePattern).
var (
	int64Pattern  = "^-?" + upTo("9223372036854775807") + "$"
	uint64Pattern = "^" + upTo("18446744073709551615") + "$"
	timePattern   = validate.TimePattern
)

// tagDescriptions describe the services (the descriptor sets protoc gets
// carry no comments).
var tagDescriptions = map[string]string{
	"RoutingService":    "Log ingest (the agents' batches), and the datasets and routes that parse and route it.",
	"ReplayService":     "Replays of archived time ranges into isolated indices, and search over them and live data.",
	"TopologyService":   "The live service graph, from captured, logged and reported flows.",
	"MembershipService": "Service instances registered under etcd leases, with their health.",
}

func main() {
	title := flag.String("title", "", "info.title")
	version := flag.String("version", "", "info.version")
	in := flag.String("in", "", "document from protoc-gen-openapiv2")
	out := flag.String("out", "", "finished document")
	flag.Parse()
	if err := run(*title, *version, *in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "finishspec:", err)
		os.Exit(1)
	}
}

func run(title, version, in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	finish(doc, title, version)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

func finish(doc map[string]any, title, version string) {
	doc["info"] = map[string]any{
		"title":       title,
		"version":     version,
		"description": "Hindsight's REST/JSON API (grpc-gateway over its gRPC services). Bodies are protojson: lowerCamel field names, 64-bit integers and durations as strings, enums by name; unknown fields are refused.",
	}
	if tags, ok := doc["tags"].([]any); ok {
		for _, t := range tags {
			if tag, ok := t.(map[string]any); ok && tagDescriptions[tag["name"].(string)] != "" {
				tag["description"] = tagDescriptions[tag["name"].(string)]
			}
		}
	}
	doc["securityDefinitions"] = map[string]any{
		"bearer": map[string]any{
			"type":        "apiKey",
			"in":          "header",
			"name":        "Authorization",
			"description": "A bearer token: `Authorization: Bearer <token>`.",
		},
	}
	doc["security"] = []any{map[string]any{"bearer": []any{}}}
	if defs, ok := doc["definitions"].(map[string]any); ok {
		if st, ok := defs["rpcStatus"].(map[string]any); ok {
			props := map[string]any{"error": map[string]any{"$ref": "#/definitions/rpcStatus"}}
			for k, v := range st["properties"].(map[string]any) {
				props[k] = v
			}
			defs["streamError"] = map[string]any{
				"type":        "object",
				"description": "A stream's failure: a google.rpc.Status, or the stream's last chunk {\"error\": Status}.",
				"properties":  props,
			}
		}
		for name, d := range defs {
			if name == "protobufAny" {
				continue // google.protobuf.Any carries its message's fields
			}
			closeObject(d)
		}
	}
	walk(doc, stringForms)
	if paths, ok := doc["paths"].(map[string]any); ok {
		for _, item := range paths {
			for _, op := range item.(map[string]any) {
				o, ok := op.(map[string]any)
				if !ok {
					continue
				}
				messages, bodies := streams(o), bodyStreams(o)
				if messages || bodies {
					// Messages as NDJSON; an error before the first one
					// is a google.rpc.Status, plain (the gateway refused
					// the request) or as the stream's error chunk.
					o["produces"] = []any{"application/x-ndjson", "application/json"}
					if d, ok := o["responses"].(map[string]any)["default"].(map[string]any); ok {
						d["schema"] = map[string]any{"$ref": "#/definitions/streamError"}
					}
				}
				if bodies {
					// google.api.HttpBody lines (an export): NDJSON or
					// CSV, as the request's format says. The generator
					// gives the bytes an object's empty properties.
					o["produces"] = []any{"application/x-ndjson", "text/csv", "application/json"}
					ok := o["responses"].(map[string]any)["200"].(map[string]any)
					ok["schema"] = map[string]any{"type": "string", "format": "binary"}
					ok["description"] = "The lines of the export, in the format the request names."
				}
				queryBounds(o)
			}
		}
	}
}

// queryBounds copies the bounds a field declares (openapiv2_field) onto its
// query parameter: protoc-gen-openapiv2 copies only the pattern there.
func queryBounds(op map[string]any) {
	id, _ := op["operationId"].(string)
	svc, method, ok := strings.Cut(id, "_")
	if !ok {
		return
	}
	// Additional bindings are numbered: "ReplayService_Search2".
	md := findMethod(svc, strings.TrimRight(method, "0123456789"))
	if md == nil {
		return
	}
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		param, _ := p.(map[string]any)
		if param["in"] != "query" {
			continue
		}
		name, _ := param["name"].(string)
		fd := fieldAt(md.Input(), name)
		if fd == nil {
			continue
		}
		js, _ := proto.GetExtension(fd.Options(), options.E_Openapiv2Field).(*options.JSONSchema)
		if js == nil {
			continue
		}
		set := func(key string, v any, present bool) {
			if present {
				param[key] = v
			}
		}
		set("minimum", js.GetMinimum(), js.GetMinimum() != 0 || js.GetExclusiveMinimum())
		set("exclusiveMinimum", true, js.GetExclusiveMinimum())
		set("maximum", js.GetMaximum(), js.GetMaximum() != 0 || js.GetExclusiveMaximum())
		set("exclusiveMaximum", true, js.GetExclusiveMaximum())
		set("maxLength", js.GetMaxLength(), js.GetMaxLength() != 0)
		set("minLength", js.GetMinLength(), js.GetMinLength() != 0)
	}
}

// findMethod finds an RPC of the Hindsight APIs by service and method name.
func findMethod(service, method string) protoreflect.MethodDescriptor {
	var found protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "hindsight.") {
			return true
		}
		if sd := f.Services().ByName(protoreflect.Name(service)); sd != nil {
			found = sd.Methods().ByName(protoreflect.Name(method))
		}
		return found == nil
	})
	return found
}

// fieldAt resolves a dotted path of JSON names from md.
func fieldAt(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for _, name := range strings.Split(path, ".") {
		if md == nil {
			return nil
		}
		if fd = md.Fields().ByJSONName(name); fd == nil {
			return nil
		}
		md = fd.Message()
	}
	return fd
}

// streams says whether an operation answers a server stream, which the
// gateway writes as newline-delimited JSON ({"result": ...} per message).
func streams(op map[string]any) bool {
	ok, _ := op["responses"].(map[string]any)["200"].(map[string]any)
	schema, _ := ok["schema"].(map[string]any)
	title, _ := schema["title"].(string)
	return strings.HasPrefix(title, "Stream result of")
}

// bodyStreams says whether an operation answers a stream of
// google.api.HttpBody messages, which the gateway writes as their bytes, a
// line each, in the content type they carry.
func bodyStreams(op map[string]any) bool {
	ok, _ := op["responses"].(map[string]any)["200"].(map[string]any)
	schema, _ := ok["schema"].(map[string]any)
	desc, _ := ok["description"].(string)
	return schema["format"] == "binary" && strings.Contains(desc, "(streaming responses)")
}

// closeObject sets additionalProperties false on a message schema.
func closeObject(s any) {
	m, ok := s.(map[string]any)
	if !ok || m["type"] != "object" {
		return
	}
	if _, isMap := m["additionalProperties"]; isMap {
		return
	}
	m["additionalProperties"] = false
}

// refSiblings tidies a reference the generator wrote with siblings, which
// OpenAPI v2 ignores: a "type" beside it goes, and readOnly (an output-only
// message field) moves onto an allOf wrapper, where it counts.
func refSiblings(m map[string]any) {
	ref, ok := m["$ref"]
	if !ok {
		return
	}
	delete(m, "type")
	if ro, ok := m["readOnly"]; ok {
		delete(m, "$ref")
		delete(m, "readOnly")
		m["allOf"] = []any{map[string]any{"$ref": ref}}
		m["readOnly"] = ro
	}
}

// itemBounds moves the string constraints protoc-gen-openapiv2 writes on a
// list of strings onto its items, where they mean what the field option
// says (internal/validate checks them on every item).
func itemBounds(m map[string]any) {
	items, ok := m["items"].(map[string]any)
	if m["type"] != "array" || !ok {
		return
	}
	for _, k := range []string{"pattern", "maxLength", "minLength"} {
		if v, ok := m[k]; ok {
			items[k] = v
			delete(m, k)
		}
	}
}

// stringForms adds the pattern of a string form to a schema that has none.
func stringForms(m map[string]any) {
	refSiblings(m)
	itemBounds(m)
	if m["type"] != "string" || m["pattern"] != nil {
		return
	}
	switch m["format"] {
	case "int64":
		m["pattern"] = int64Pattern
	case "uint64":
		m["pattern"] = uint64Pattern
	case "date-time":
		m["pattern"] = timePattern
	}
}

// upTo is a regular expression (without anchors) matching the decimal
// numbers from 0 to max, without leading zeros.
func upTo(max string) string {
	alts := []string{"0"}
	n := len(max)
	// Every number with fewer digits than max.
	if n > 1 {
		alts = append(alts, fmt.Sprintf("[1-9][0-9]{0,%d}", n-2))
	}
	// Numbers with n digits: equal to max up to position i, smaller at i.
	for i := 0; i < n; i++ {
		lo := byte('0')
		if i == 0 {
			lo = '1'
		}
		hi := max[i] - 1
		if hi < lo {
			continue
		}
		alt := max[:i] + fmt.Sprintf("[%c-%c]", lo, hi)
		if rest := n - i - 1; rest > 0 {
			alt += fmt.Sprintf("[0-9]{%d}", rest)
		}
		alts = append(alts, alt)
	}
	alts = append(alts, max)
	return "(" + strings.Join(alts, "|") + ")"
}

// walk calls f on every object in v, depth first; inline body schemas
// (PATCH bodies, stream messages) are closed like definitions.
func walk(v any, f func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		f(t)
		if t["in"] == "body" {
			closeObject(t["schema"])
		}
		for _, c := range t {
			walk(c, f)
		}
	case []any:
		for _, c := range t {
			walk(c, f)
		}
	}
}
