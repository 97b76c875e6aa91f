package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

const exampleConfig = `
defaults:
  topic:
    partitions: 6
    replication_factor: 3
    retention: 7d
    compression: zstd
datasets:
  - name: nginx.access
    description: front proxies
    parser: {format: combined}
    topic: {retention: 14d, retention_bytes: 10737418240}
  - name: app
    parser:
      format: json
      timestamp_field: when
      timestamp_layout: "2006-01-02 15:04:05"
      timezone: Europe/Paris
  - name: java
    parser:
      format: regex
      pattern: '^%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:message}$'
    topic: {name: logs.jvm, partitions: 2, retention: 36h, compression: lz4}
routes:
  - name: nginx-5xx
    dataset: nginx.access
    priority: 10
    topic: logs.nginx.errors
    copy: true
    conditions:
      - {field: http.response.status_code, op: matches, value: "^5"}
      - {field: labels.env, op: OP_EQUALS, value: prod}
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Datasets) != 3 || len(c.Routes) != 1 {
		t.Fatalf("%d datasets, %d routes", len(c.Datasets), len(c.Routes))
	}
	nginx, app, java := c.Datasets[0], c.Datasets[1], c.Datasets[2]
	if nginx.Topic.Topic != "logs.nginx.access" || nginx.Topic.Partitions != 6 || nginx.Topic.ReplicationFactor != 3 ||
		nginx.Topic.Retention.AsDuration() != 14*24*time.Hour || nginx.Topic.RetentionBytes != 10<<30 || nginx.Topic.Compression != "zstd" {
		t.Errorf("nginx.access topic (defaults under its own settings): %v", nginx.Topic)
	}
	if app.Parser.Format != routingv1.Parser_FORMAT_JSON || app.Parser.Timezone != "Europe/Paris" || app.Topic.Retention.AsDuration() != 7*24*time.Hour {
		t.Errorf("app: %v", app)
	}
	if java.Topic.Topic != "logs.jvm" || java.Topic.Partitions != 2 || java.Topic.Retention.AsDuration() != 36*time.Hour || java.Topic.Compression != "lz4" {
		t.Errorf("java: %v", java.Topic)
	}
	r := c.Routes[0]
	if !r.Copy || r.Priority != 10 || len(r.Conditions) != 2 || r.Conditions[0].Op != routingv1.Condition_OP_MATCHES || r.Conditions[1].Op != routingv1.Condition_OP_EQUALS {
		t.Errorf("route: %v", r)
	}
	if c.Defaults.Topic.Partitions != 6 {
		t.Errorf("defaults: %v", c.Defaults.Topic)
	}

	empty, err := ParseConfig(nil)
	if err != nil || len(empty.Datasets) != 0 || empty.Defaults.Topic == nil {
		t.Errorf("an empty file: %v %v", empty, err)
	}
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"datasets:\n  - name: x\n    parsr: {}\n", "field parsr not found"},
		{"datasets:\n  - name: x\n    parser: {format: xml}\n", `datasets[0].parser.format: "xml" is not`},
		{"datasets:\n  - name: x\n    parser: {format: regex}\n", "datasets[0].parser.pattern: required"},
		{"datasets:\n  - name: x\n    topic: {retention: a week}\n", "datasets[0].topic.retention:"},
		{"datasets:\n  - name: x\n  - name: x\n", `datasets[1].name: dataset "x" declared twice`},
		{"datasets:\n  - name: X\n", "datasets[0].name:"},
		{"defaults:\n  topic: {name: t, compression: brotli}\n", "defaults.topic.name"},
		{"defaults:\n  topic: {compression: brotli}\n", "defaults.topic.compression"},
		{"routes:\n  - {name: r, dataset: d, topic: t, conditions: [{field: f, op: like}]}\n", `routes[0].conditions[0].op: "like"`},
		{"routes:\n  - {name: r, dataset: d}\n", "routes[0].topic: required"},
		{"datasets:\n  - name: x\n    parser: {format: json, envelope: podman}\n", `datasets[0].parser.envelope: "podman"`},
		{"datasets:\n  - name: x\n    parser: {format: json, preset: log4j}\n", `datasets[0].parser.preset: unknown preset "log4j"`},
		{"datasets:\n  - name: x\n    parser: {format: regex, pattern: '%{IP:a}', patterns: ['%{NOPE:x}']}\n", "datasets[0].parser.patterns[0]: unknown pattern %{NOPE}"},
		{"datasets:\n  - name: x\n    parser: {format: regex, pattern: '%{IP:a}" + strings.Repeat("%{IPORHOST}", 100) + "'}\n", "datasets[0].parser.pattern: expands to more than"},
		{"datasets:\n  - name: x\n    parser: {timestamp_layouts: ['20060102-15:04:05:000']}\n", `datasets[0].parser.timestamp_layouts[0]: "20060102-15:04:05:000" holds the digits`},
		{"datasets:\n  - name: x\n    parser: {processors: [{op: squash}]}\n", `datasets[0].parser.processors[0].op: "squash"`},
		{"datasets:\n  - name: x\n    parser: {processors: [{op: drop, when: {field: a, op: like}}]}\n", `datasets[0].parser.processors[0].when.op: "like"`},
		{"datasets:\n  - name: x\n    parser: {processors: [{op: set, field: '@timestamp', value: x}]}\n", "datasets[0].parser.processors[0].field: \"@timestamp\" belongs to the event model"},
	} {
		_, err := ParseConfig([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error containing %q", c.yaml, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(path, []byte("datasets: [{name: X}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadConfig names the file: %v", err)
	}
}

func TestParseConfigParserFields(t *testing.T) {
	c, err := ParseConfig([]byte(`
datasets:
  - name: android
    parser:
      format: regex
      pattern_definitions: {LEVEL: "[VDIWEF]"}
      pattern: '^%{TIME:t} %{LEVEL:log.level} %{GREEDYDATA:message}$'
      patterns: ['^%{GREEDYDATA:message}$']
      timestamp_layouts: ["HH:mm:ss.SSS", "%H:%M:%S"]
      processors:
        - {op: map, field: log.level, mapping: {d: debug}}
        - {op: drop, when: {field: message, op: matches, value: "^heartbeat"}}
  - name: containers
    parser: {format: json, preset: zap, message_field: fields.msg, envelope: cri}
  - name: web
    parser: {format: combined, extra_fields: ["request_time:float"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, k, w := c.Datasets[0].GetParser(), c.Datasets[1].GetParser(), c.Datasets[2].GetParser()
	if a.GetPatternDefinitions()["LEVEL"] != "[VDIWEF]" || len(a.GetPatterns()) != 1 || len(a.GetTimestampLayouts()) != 2 ||
		len(a.GetProcessors()) != 2 || a.GetProcessors()[1].GetOp() != routingv1.Processor_OP_DROP ||
		a.GetProcessors()[1].GetWhen().GetOp() != routingv1.Condition_OP_MATCHES || a.GetProcessors()[0].GetMapping()["d"] != "debug" {
		t.Errorf("regex dataset: %v", a)
	}
	if k.GetPreset() != "zap" || k.GetMessageField() != "fields.msg" || k.GetEnvelope() != routingv1.Parser_ENVELOPE_CRI {
		t.Errorf("json dataset: %v", k)
	}
	if len(w.GetExtraFields()) != 1 {
		t.Errorf("combined dataset: %v", w)
	}
}

func TestSeedPrecedence(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, err := ParseConfig([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRoute(ctx, &routingv1.GetRouteRequest{Name: "nginx-5xx"}); err != nil || r.Topic != "logs.nginx.errors" {
		t.Fatalf("seeded route: %v %v", r, err)
	}
	// A route edited through the API survives a restart...
	edit := &routingv1.UpdateRouteRequest{
		Route: &routingv1.Route{Name: "nginx-5xx", Topic: "edited"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"topic"}},
	}
	if _, err := s.UpdateRoute(ctx, edit); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRoute(ctx, &routingv1.GetRouteRequest{Name: "nginx-5xx"}); r.Topic != "edited" {
		t.Fatalf("etcd must win over the file for routes: %v", r)
	}
	// ...unless the file is told to win, for the routes it declares.
	if err := s.Seed(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRoute(ctx, &routingv1.GetRouteRequest{Name: "nginx-5xx"}); r.Topic != "logs.nginx.errors" {
		t.Fatalf("with overwrite the file wins: %v", r)
	}
	// Datasets made through the API are the API's: a restart keeps them.
	if _, err := s.CreateDataset(ctx, &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "api-only"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: "api-only"}); err != nil {
		t.Fatalf("entries the file does not declare stay: %v", err)
	}

	bad, err := ParseConfig([]byte("routes:\n  - {name: r, dataset: missing, topic: t}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, bad, false); err == nil || !strings.Contains(err.Error(), `route.dataset: no dataset named "missing"`) {
		t.Fatalf("seeding a route of an unknown dataset: %v", err)
	}
}

func TestDeclaredDatasetsKeepTheirParser(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, err := ParseConfig([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	c.Path = "/etc/hindsight/router.yaml"
	if err := s.Seed(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	wantCombined := func(when string) {
		t.Helper()
		d, err := s.GetDataset(ctx, &routingv1.GetDatasetRequest{Name: "nginx.access"})
		if err != nil || d.GetParser().GetFormat() != routingv1.Parser_FORMAT_COMBINED {
			t.Fatalf("%s: nginx.access is %v, %v; want its declared combined parser", when, d, err)
		}
	}
	// Deleting or changing a declared dataset through the API is refused,
	// naming the file, and changes nothing.
	_, err = s.DeleteDataset(ctx, &routingv1.DeleteDatasetRequest{Name: "nginx.access"})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), c.Path) {
		t.Fatalf("delete a declared dataset: %v; want FailedPrecondition naming %s", err, c.Path)
	}
	_, err = s.UpdateDataset(ctx, &routingv1.UpdateDatasetRequest{Dataset: &routingv1.Dataset{Name: "nginx.access", Parser: &routingv1.Parser{}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("update a declared dataset: %v; want FailedPrecondition", err)
	}
	wantCombined("after the refused delete and update")

	// Removed behind the API's back (etcdctl): the next batch re-creates it
	// from its declaration, not as a raw dataset.
	if _, err := s.cli.Delete(ctx, s.datasetKey("nginx.access")); err != nil {
		t.Fatal(err)
	}
	if d, err := s.EnsureDataset(ctx, "nginx.access"); err != nil || d.GetParser().GetFormat() != routingv1.Parser_FORMAT_COMBINED {
		t.Fatalf("auto-created in place of a declared dataset: %v %v", d, err)
	}
	wantCombined("after an agent's batch re-created it")

	// Changed in etcd directly: the next start applies the file again.
	raw := &routingv1.Dataset{Name: "nginx.access", Parser: &routingv1.Parser{}}
	if _, err := update(ctx, s, datasets, "nginx.access", func(*routingv1.Dataset) (*routingv1.Dataset, error) { return raw, nil }, noCmps[*routingv1.Dataset], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	wantCombined("after a restart")
}
