package cli

// The CLI against a real all-in-one process (the binary Bazel builds, or one
// `go build` makes): log lines dropped into its inbox are searched in each
// output format and followed live, a replay of them is created and waited for
// with progress until READY, a dataset file is applied twice (unchanged the
// second time), members and the graph are listed, and refused input exits
// with the documented codes, naming the field.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

var allinoneBin = flag.String("allinone", "", "path of the all-in-one binary (default: go build it)")

// allinone is a running all-in-one on loopback ports.
type allinone struct {
	grpc, data string
}

func startAllInOne(t *testing.T) *allinone {
	t.Helper()
	bin := *allinoneBin
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "allinone")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/hindsight-dev/hindsight/services/allinone").CombinedOutput()
		if err != nil {
			t.Fatalf("go build allinone: %v\n%s", err, out)
		}
	} else if r := os.Getenv("TEST_SRCDIR"); r != "" && !filepath.IsAbs(bin) {
		bin = filepath.Join(r, os.Getenv("TEST_WORKSPACE"), bin)
	}
	a := &allinone{grpc: servertest.FreeAddr(t), data: t.TempDir()}
	admin := servertest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--data-dir="+a.data, "--grpc-addr="+a.grpc, "--admin-addr="+admin,
		"--gateway.http-addr="+servertest.FreeAddr(t), "--archiver.flush-interval=1s", "--log-format=text", "--log-level=warn")
	logs, err := os.Create(filepath.Join(t.TempDir(), "allinone.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("all-in-one log (tail):\n%s", tail(string(b), 4000))
		}
	})
	polltest.Until(t, "the all-in-one ready", 90*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for a command running in a goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code        int
	stdout, err string
}

// run runs the CLI against a, as a user would type it.
func (a *allinone) run(ctx context.Context, stdin string, args ...string) result {
	var out, errw syncBuffer
	code := Main(ctx, append([]string{"--server", a.grpc}, args...), strings.NewReader(stdin), &out, &errw)
	return result{code, out.String(), errw.String()}
}

func (a *allinone) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := a.run(context.Background(), "", args...)
	if r.code != 0 {
		t.Fatalf("hindsight %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.err)
	}
	return r
}

const events = 120

func TestCLIAgainstAllInOne(t *testing.T) {
	a := startAllInOne(t)
	inbox := filepath.Join(a.data, "inbox", "app")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	from := now.Add(-2 * time.Hour).Truncate(time.Minute)
	var lines bytes.Buffer
	for i := range events {
		fmt.Fprintf(&lines, `{"@timestamp":%q,"level":"error","service":"shop","message":"clitest payment %d failed"}`+"\n",
			from.Add(time.Duration(i)*30*time.Second).Format(time.RFC3339), i)
	}
	if err := os.WriteFile(filepath.Join(inbox, "shop.log"), lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rangeArgs := []string{"--from", from.Format(time.RFC3339), "--to", now.Add(time.Minute).Format(time.RFC3339)}

	t.Run("search", func(t *testing.T) {
		polltest.Until(t, "the inbox's lines searchable", 60*time.Second, func() (bool, string) {
			r := a.run(context.Background(), "", append([]string{"search", "clitest", "-o", "json", "-n", "1"}, rangeArgs...)...)
			var resp replayv1.SearchResponse
			if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), &resp) != nil {
				return false, r.err + r.stdout
			}
			return resp.GetTotal() == events, r.stdout
		})
		// table: a header, then one aligned row per event, newest first.
		r := a.ok(t, append([]string{"search", "clitest", "-n", "5"}, rangeArgs...)...)
		rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(rows) != 6 || !strings.HasPrefix(rows[0], "TIME") || !strings.Contains(rows[1], "clitest payment 119 failed") ||
			!strings.Contains(rows[1], "error") || !strings.Contains(rows[1], "shop") {
			t.Errorf("table:\n%s", r.stdout)
		}
		if !strings.Contains(r.err, fmt.Sprintf("5 of %d matching events", events)) {
			t.Errorf("table summary on stderr: %q", r.err)
		}
		// ndjson: one Event a line; --limit past the server's page size pages.
		r = a.ok(t, append([]string{"search", "clitest", "-o", "ndjson", "-n", "1000", "--oldest-first"}, rangeArgs...)...)
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		n := 0
		for sc.Scan() {
			var e eventv1.Event
			if err := protojson.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("ndjson line %d: %v: %s", n+1, err, sc.Text())
			}
			if want := fmt.Sprintf("clitest payment %d failed", n); e.GetMessage() != want {
				t.Fatalf("ndjson line %d: %q, want %q", n+1, e.GetMessage(), want)
			}
			n++
		}
		if n != events {
			t.Errorf("ndjson: %d lines, want %d", n, events)
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errw syncBuffer
		done := make(chan int)
		go func() {
			done <- Main(ctx, []string{"--server", a.grpc, "search", "clitail", "--follow", "-o", "ndjson", "--since", "1m", "--poll-interval", "200ms"},
				strings.NewReader(""), &out, &errw)
		}()
		// Appended to the harvested file: a new file waits until it is long
		// enough to fingerprint.
		f, err := os.OpenFile(filepath.Join(inbox, "shop.log"), os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := range 3 {
			fmt.Fprintf(f, `{"@timestamp":%q,"message":"clitail %d"}`+"\n", time.Now().UTC().Format(time.RFC3339Nano), i)
			polltest.Until(t, fmt.Sprintf("line %d followed", i), 30*time.Second, func() (bool, string) {
				return strings.Count(out.String(), "\n") == i+1 && strings.Contains(out.String(), fmt.Sprintf("clitail %d", i)), out.String() + errw.String()
			})
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("follow ended with exit %d: %s", code, errw.String())
		}
		if n := strings.Count(out.String(), "clitail"); n != 3 {
			t.Errorf("followed %d lines, want each of 3 once:\n%s", n, out.String())
		}
	})

	t.Run("replay", func(t *testing.T) {
		create := append([]string{"replay", "create", "cli-two-hours", "--dataset", "app", "--query", "clitest"}, rangeArgs...)
		// The archiver flushes each second: wait until every line is archived.
		polltest.Until(t, "every line archived", 60*time.Second, func() (bool, string) {
			r := a.run(context.Background(), "", append(create, "--dry-run", "-o", "json")...)
			var e replayv1.Estimate
			if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), &e) != nil {
				return false, r.err + r.stdout
			}
			return e.GetEvents() >= events, r.stdout
		})
		r := a.ok(t, append(create, "--wait", "--poll-interval", "50ms")...)
		if !strings.Contains(r.stdout, "cli-two-hours") || !strings.Contains(r.stdout, "READY") {
			t.Errorf("create --wait printed:\n%s", r.stdout)
		}
		// Not a terminal: one progress line per change, the last one READY.
		progress := strings.Split(strings.TrimSpace(r.err), "\n")
		last := progress[len(progress)-1]
		if !strings.HasPrefix(last, "replay cli-two-hours: READY") || !strings.Contains(last, fmt.Sprintf("%d events", events)) ||
			!strings.Contains(last, "files") {
			t.Errorf("progress on stderr:\n%s", r.err)
		}
		t.Logf("progress:\n%s", r.err)

		r = a.ok(t, "replay", "wait", "cli-two-hours", "-o", "json")
		var got replayv1.Replay
		if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil || got.GetState() != replayv1.State_STATE_READY ||
			got.GetProgress().GetEventsLoaded() != events {
			t.Errorf("wait -o json: %v %s", err, r.stdout)
		}
		r = a.ok(t, "replay", "list")
		if !strings.Contains(r.stdout, "cli-two-hours") || !strings.Contains(r.stdout, "READY") {
			t.Errorf("list:\n%s", r.stdout)
		}
		r = a.ok(t, "search", "--replay", "cli-two-hours", "-o", "json", "-n", "1")
		var resp replayv1.SearchResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &resp); err != nil || resp.GetTotal() != events {
			t.Errorf("search the replay: %v %s", err, r.stdout)
		}
		// A refused field is named, exit 2; an existing name is a conflict, 6.
		r = a.run(context.Background(), "", "replay", "create", "Bad_Name", "--dataset", "app", "--from", "2h", "--to", "1h")
		if r.code != exitUsage || !strings.Contains(r.err, "field replay.name") {
			t.Errorf("bad name: exit %d, %s", r.code, r.err)
		}
		r = a.run(context.Background(), "", append(create, "--no-progress")...)
		if r.code != exitConflict {
			t.Errorf("the same name again: exit %d, %s", r.code, r.err)
		}
		a.ok(t, "replay", "delete", "cli-two-hours")
		polltest.Until(t, "the replay gone", 30*time.Second, func() (bool, string) {
			r := a.run(context.Background(), "", "replay", "get", "cli-two-hours")
			return r.code == exitNotFound, fmt.Sprint(r)
		})
	})

	t.Run("apply", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "app.yaml")
		write := func(description string) {
			y := `kind: Dataset
name: cli.orders
description: ` + description + `
parser: {format: FORMAT_JSON, timestampField: ts}
topic: {partitions: 2, retention: 86400s}
---
kind: Route
name: cli-orders-errors
dataset: cli.orders
conditions: [{field: log.level, op: OP_EQUALS, value: error}]
topic: logs.cli.orders.errors
copy: true
`
			if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("orders of the shop")
		r := a.ok(t, "apply", "-f", file)
		if r.stdout != "dataset/cli.orders created\nroute/cli-orders-errors created\n" {
			t.Errorf("first apply: %q", r.stdout)
		}
		r = a.ok(t, "apply", "-f", file)
		if r.stdout != "dataset/cli.orders unchanged\nroute/cli-orders-errors unchanged\n" {
			t.Errorf("second apply: %q", r.stdout)
		}
		write("orders and refunds")
		r = a.ok(t, "apply", "-f", file)
		if r.stdout != "dataset/cli.orders configured\nroute/cli-orders-errors unchanged\n" {
			t.Errorf("changed apply: %q", r.stdout)
		}
		r = a.ok(t, "datasets", "get", "cli.orders", "-o", "json")
		var d routingv1.Dataset
		if err := protojson.Unmarshal([]byte(r.stdout), &d); err != nil || d.GetDescription() != "orders and refunds" ||
			d.GetTopic().GetPartitions() != 2 || d.GetTopic().GetTopic() == "" || d.GetParser().GetTimestampField() != "ts" {
			t.Errorf("the applied dataset (the server's topic name kept): %v %s", err, r.stdout)
		}
		r = a.ok(t, "routes", "list", "--dataset", "cli.orders")
		if !strings.Contains(r.stdout, "cli-orders-errors") || !strings.Contains(r.stdout, `log.level equals "error"`) {
			t.Errorf("routes list:\n%s", r.stdout)
		}
		// A misspelt field in the file: exit 2, naming the document and the field.
		r = a.run(context.Background(), "kind: Dataset\nname: x.y\nparserr: {format: FORMAT_JSON}\n", "apply", "-f", "-")
		if r.code != exitUsage || !strings.Contains(r.err, "document 1") || !strings.Contains(r.err, `"parserr"`) {
			t.Errorf("misspelt field: exit %d, %s", r.code, r.err)
		}
		// A value the server refuses: exit 2, the server's field path.
		r = a.run(context.Background(), "kind: Dataset\nname: Bad!\n", "apply", "-f", "-")
		if r.code != exitUsage || !strings.Contains(r.err, "field dataset.name") {
			t.Errorf("refused name: exit %d, %s", r.code, r.err)
		}
		r = a.ok(t, "delete", "-f", file)
		if r.stdout != "route/cli-orders-errors deleted\ndataset/cli.orders deleted\n" {
			t.Errorf("delete -f: %q", r.stdout)
		}
		if r := a.run(context.Background(), "", "datasets", "get", "cli.orders"); r.code != exitNotFound {
			t.Errorf("deleted dataset: exit %d", r.code)
		}
	})

	t.Run("members", func(t *testing.T) {
		cc, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		mc := membershipv1.NewMembershipServiceClient(cc)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out syncBuffer
		done := make(chan int)
		go func() {
			done <- Main(ctx, []string{"--server", a.grpc, "members", "watch", "--service", "cliweb"}, strings.NewReader(""), &out, &out)
		}()
		if _, err := mc.Register(ctx, &membershipv1.RegisterRequest{
			Member: &membershipv1.Member{Service: "cliweb", Id: "cliweb-1", Address: "10.0.0.8", Port: 8081, Labels: map[string]string{"zone": "a"}},
			Ttl:    durationpb.New(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		polltest.Until(t, "the watch sees the join", 20*time.Second, func() (bool, string) {
			return strings.Contains(out.String(), "JOIN   cliweb/cliweb-1 10.0.0.8:8081"), out.String()
		})
		r := a.ok(t, "members", "list", "--service", "cliweb")
		if !strings.Contains(r.stdout, "cliweb-1") || !strings.Contains(r.stdout, "zone=a") {
			t.Errorf("members list:\n%s", r.stdout)
		}
		if _, err := mc.Deregister(ctx, &membershipv1.DeregisterRequest{Service: "cliweb", Id: "cliweb-1"}); err != nil {
			t.Fatal(err)
		}
		polltest.Until(t, "the watch sees the leave", 20*time.Second, func() (bool, string) {
			return strings.Contains(out.String(), "LEAVE  cliweb/cliweb-1"), out.String()
		})
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("watch ended with exit %d: %s", code, out.String())
		}
	})

	t.Run("graph", func(t *testing.T) {
		cc, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		stream, err := topologyv1.NewTopologyServiceClient(cc).ReportFlows(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var flows []*topologyv1.Flow
		for i := range 20 {
			status := topologyv1.StatusClass_STATUS_CLASS_OK
			if i%4 == 0 {
				status = topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
			}
			flows = append(flows, &topologyv1.Flow{
				Source:      &topologyv1.Endpoint{Service: "cli-frontend"},
				Destination: &topologyv1.Endpoint{Service: "cli-api"},
				Protocol:    topologyv1.Protocol_PROTOCOL_HTTP, Status: status,
				Latency: durationpb.New(20 * time.Millisecond)})
		}
		if err := stream.Send(&topologyv1.ReportFlowsRequest{Flows: flows}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.CloseAndRecv(); err != nil {
			t.Fatal(err)
		}
		polltest.Until(t, "the edge in the graph", 20*time.Second, func() (bool, string) {
			r := a.run(context.Background(), "", "graph")
			return r.code == 0 && strings.Contains(r.stdout, "cli-frontend -> cli-api") && strings.Contains(r.stdout, "http"), r.stdout + r.err
		})
		r := a.ok(t, "graph", "-o", "json")
		var g map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &g); err != nil || g["edges"] == nil {
			t.Errorf("graph -o json: %v %s", err, r.stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			says string
		}{
			{[]string{"replay", "create", "x", "--dataset", "app", "--to", "1h"}, exitUsage, `"from"`},
			{[]string{"search", "--limit", "0"}, exitUsage, "--limit"},
			{[]string{"search", "--from", "yesterday-ish"}, exitUsage, `"--from"`},
			{[]string{"replay", "get", "no-such-replay"}, exitNotFound, "NotFound"},
			{[]string{"--server", "127.0.0.1:1", "--timeout", "2s", "replay", "list"}, exitUnavailable, "Unavailable"},
			{[]string{"nonsense"}, exitUsage, "unknown command"},
		} {
			r := a.run(context.Background(), "", c.args...)
			if r.code != c.code || !strings.Contains(r.err, c.says) {
				t.Errorf("hindsight %s: exit %d %q, want exit %d saying %s", strings.Join(c.args, " "), r.code, r.err, c.code, c.says)
			}
		}
	})
}
