// The REST contract, checked by clients no one here wrote: the all-in-one
// image serves its OpenAPI document; a third-party linter (Redocly CLI, its
// recommended rules) must find no error in it, and Schemathesis, a
// property-based client, generates requests from it for every operation
// (valid and invalid ones, then create → get → update → delete sequences)
// and checks every answer against it. The suite prints the counts and fails
// on any server error, any response the document does not describe, any
// valid request refused and any invalid request accepted.
//
// The tools are installed by tools/setup/contract.sh (tools/test runs it)
// under the cache directory ($HINDSIGHT_CACHE, passed by tools/bazel).
package contract

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/hindsight-dev/hindsight/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Bounds that keep the run within a few minutes on a 2-core machine.
const (
	examples = 100 // per operation and phase, the floor
	// Streams (watch) end after this; the gateway passes it on as the call's
	// deadline, so a watch answers its first messages and stops.
	streamTimeout = "2S"
)

// tool is the path of an installed contract tool, or a fatal error saying
// how to install it.
func tool(t *testing.T, rel string) string {
	t.Helper()
	cache := os.Getenv("HINDSIGHT_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "hindsight")
	}
	p := filepath.Join(cache, "contract", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed: run tools/setup/contract.sh (%v)", rel, err)
	}
	return p
}

func startAllInOne(t *testing.T) string {
	t.Helper()
	image := harness.LoadImage(t, "images/allinone_image.tar")
	c := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image:        image,
		Cmd:          []string{"--data-dir=/tmp/data", "--log-format=text"},
		ExposedPorts: []string{"8080/tcp", "9091/tcp"},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("9091/tcp").WithStartupTimeout(90 * time.Second),
	})
	url, err := c.PortEndpoint(context.Background(), "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func fetchSpec(t *testing.T, base, dir string) string {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	p := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "NO_COLOR=1", "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestContract(t *testing.T) {
	st := tool(t, "venv/bin/st")
	redocly := tool(t, "npm/node_modules/.bin/redocly")
	base := startAllInOne(t)
	dir := t.TempDir()
	spec := fetchSpec(t, base, dir)

	t.Run("lint", func(t *testing.T) {
		cfg, err := filepath.Abs("redocly.yaml")
		if err != nil {
			t.Fatal(err)
		}
		out, err := run(t, dir, redocly, "lint", "--config", cfg, "--format", "stylish", spec)
		t.Logf("redocly lint (recommended rules, see e2e/contract/redocly.yaml):\n%s", out)
		if err != nil {
			t.Fatalf("the linter reports errors: %v", err)
		}
	})

	t.Run("schemathesis", func(t *testing.T) {
		report := filepath.Join(dir, "report")
		args := []string{"run", spec, "--url", base,
			"--checks", "all",
			// Authentication is on (the harness gives the container its
			// tokens): every call carries the admin's token, and the
			// ignored_auth check proves a call without it is refused.
			"--header", "Authorization: " + harness.Bearer(t, harness.Admin),
			"--generation-with-security-parameters", "false",
			"--phases", "examples,coverage,fuzzing,stateful",
			"--max-examples", fmt.Sprint(examples),
			"--workers", "2",
			"--seed", "16",
			"--request-timeout", "10",
			"--header", "Grpc-Timeout: " + streamTimeout,
			"--report", "ndjson", "--report-dir", report,
			"--output-truncate", "true",
		}
		out, err := run(t, dir, st, args...)
		t.Logf("schemathesis %s\n%s", strings.Join(args, " "), out)
		counts := countEvents(t, report)
		fmt.Print(counts.String())
		t.Log(counts.String())
		for _, c := range counts.failing() {
			t.Errorf("%s: %d", c.name, c.n)
		}
		if err != nil && len(counts.failing()) == 0 && len(counts.known) == 0 {
			t.Fatalf("schemathesis failed: %v", err)
		}
		if counts.requests < 100*counts.operations/2 {
			t.Errorf("only %d requests over %d operations", counts.requests, counts.operations)
		}
	})
}

// counts are what the run found, by check.
type counts struct {
	operations, requests int
	failures             map[string]int // check name -> failing cases
	known                map[string]int // operation -> schema-valid requests refused by a rule below
	errors               int            // operations Schemathesis could not test
}

// crossField are the operations whose schema-valid requests a server may
// refuse by a rule across fields, which OpenAPI v2 cannot state (it has no
// oneOf, no comparisons between fields, no rule on a value's use): such a
// refusal is counted and printed, not failed. Any other refusal of a
// schema-valid request fails the suite.
var crossField = map[string]string{
	"POST /v1/routes":           "conditions[].op: OP_UNSPECIFIED is refused; the enum keeps it because responses may carry the zero value",
	"PATCH /v1/routes/{name}":   "conditions[].op: as POST /v1/routes",
	"POST /v1/datasets":         "parser: pattern, timestampLayout and timezone are checked by the parser the format names",
	"PATCH /v1/datasets/{name}": "parser: as POST /v1/datasets",
	"POST /v1/flows":            "flows[].destination.service is required; the source endpoint (same type) may be empty",
	"POST /v1/ingest":           "lines[].source needs host or fileId: a line's event id derives from them",
	"POST /v1/ingest:stream":    "as POST /v1/ingest",
	"POST /v1/members":          "healthCheck: tcp or http, not both (a oneof), and timeout at most interval",
	"POST /v1/replays":          "to must be after from",
	"POST /v1/replays:estimate": "to must be after from",
	"POST /v1/search":           "to must be after from; pageToken must be one the service returned",
	"GET /v1/search":            "as POST /v1/search",
	"POST /v1/search:export":    "search: as POST /v1/search",
	"GET /v1/members:watch":     "afterRevision must not be ahead of etcd's revision",
}

type count struct {
	name string
	n    int
}

// The four targets, by the Schemathesis checks that measure them.
var targets = []struct{ label, check string }{
	{"server errors", "not_a_server_error"},
	{"responses violating the schema", "response_schema_conformance"},
	{"schema-valid requests rejected", "positive_data_acceptance"},
	{"invalid requests accepted", "negative_data_rejection"},
}

func (c counts) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "contract: %d operations, %d requests, %d errors\n", c.operations, c.requests, c.errors)
	known := 0
	for _, n := range c.known {
		known += n
	}
	for _, tg := range targets {
		n := c.failures[tg.check]
		if tg.check == "positive_data_acceptance" {
			fmt.Fprintf(&b, "contract: %s: %d (+ %d by cross-field rules)\n", tg.label, n, known)
			continue
		}
		fmt.Fprintf(&b, "contract: %s: %d\n", tg.label, n)
	}
	var ops []string
	for op := range c.known {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Fprintf(&b, "contract:   %s: %d refused (%s)\n", op, c.known[op], crossField[op])
	}
	var others []string
	for k, n := range c.failures {
		others = append(others, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(others)
	fmt.Fprintf(&b, "contract: failures by check: %s\n", strings.Join(others, " "))
	return b.String()
}

func (c counts) failing() []count {
	var out []count
	for k, n := range c.failures {
		out = append(out, count{k, n})
	}
	if c.errors > 0 {
		out = append(out, count{"errors (operations not tested)", c.errors})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// countEvents reads Schemathesis's NDJSON event report.
func countEvents(t *testing.T, dir string) counts {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if len(files) == 0 {
		t.Fatalf("no NDJSON report in %s", dir)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := counts{failures: map[string]int{}, known: map[string]int{}}
	dec := json.NewDecoder(f)
	for {
		var ev map[string]json.RawMessage
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("report: %v", err)
		}
		for kind, body := range ev {
			tallyEvent(&c, kind, body)
		}
	}
	return c
}

// tallyEvent adds one report event to c: the operations from
// LoadingFinished, requests and failed checks (per test case) from every
// ScenarioFinished, and the operations Schemathesis could not test.
func tallyEvent(c *counts, kind string, body json.RawMessage) {
	switch kind {
	case "LoadingFinished":
		var ev struct {
			Statistic struct {
				Operations struct{ Selected int } `json:"operations"`
			} `json:"statistic"`
		}
		if json.Unmarshal(body, &ev) == nil {
			c.operations = ev.Statistic.Operations.Selected
		}
	case "ScenarioFinished":
		var ev struct {
			Recorder struct {
				Label  string `json:"label"`
				Checks map[string][]struct {
					Name        string `json:"name"`
					Status      string `json:"status"`
					FailureInfo struct {
						Failure struct {
							Operation string `json:"operation"`
						} `json:"failure"`
					} `json:"failure_info"`
				} `json:"checks"`
				Interactions map[string]json.RawMessage `json:"interactions"`
			} `json:"recorder"`
		}
		if json.Unmarshal(body, &ev) != nil {
			return
		}
		c.requests += len(ev.Recorder.Interactions)
		for _, checks := range ev.Recorder.Checks {
			for _, ch := range checks {
				if ch.Status != "failure" {
					continue
				}
				op := cmp.Or(ch.FailureInfo.Failure.Operation, ev.Recorder.Label)
				if _, ok := crossField[op]; ok && ch.Name == "positive_data_acceptance" {
					c.known[op]++
				} else {
					c.failures[ch.Name]++
				}
			}
		}
	case "NonFatalError":
		c.errors++
	}
}
