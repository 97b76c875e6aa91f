// Package abuse_test attacks the built images as someone on the same network
// would: every attack of issue 12 and more, against the all-in-one image and
// the split membership and gateway images. Each attack must be refused with
// the expected code (gRPC code or HTTP status) and, for a bad input, the field
// it names; after each, the services answer their health checks, no
// container restarted, and what the services hold (replays, datasets,
// routes, members) is what it was before the attack.
package abuse_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

func TestMain(m *testing.M) { harness.Main(m) }

// outcome is how a request was answered: a gRPC code name or an HTTP status,
// and the fields a BadRequest named.
type outcome struct {
	code   string
	fields []string
	msg    string
}

// attack is one hostile request and how it must be refused.
type attack struct {
	name  string
	do    func(t *testing.T) outcome
	code  string // "Unauthenticated", "PermissionDenied", "InvalidArgument", "401", "403", "400", "413", or a bound's outcome ("bounded", "closed", ...)
	field string // a field the refusal names ("" none expected)
}

// target is one deployment under attack.
type target struct {
	name       string
	containers []testcontainers.Container
	started    map[string]string // container id -> start time: a restart changes it
	rest       string            // gateway base URL
	grpc       string            // gRPC address of the API
	admin      string            // admin listener base URL
	snapshot   func(t *testing.T) string
}

func rest(t *testing.T, method, url, token, body string, hdr ...string) outcome {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return outcome{code: "error", msg: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	o := outcome{code: fmt.Sprint(resp.StatusCode), msg: string(b)}
	var e struct {
		Details []struct {
			FieldViolations []struct{ Field string } `json:"fieldViolations"`
		} `json:"details"`
	}
	if json.Unmarshal(b, &e) == nil {
		for _, d := range e.Details {
			for _, v := range d.FieldViolations {
				o.fields = append(o.fields, v.Field)
			}
		}
	}
	return o
}

func fromErr(err error) outcome {
	if err == nil {
		return outcome{code: "OK"}
	}
	st := status.Convert(err)
	o := outcome{code: st.Code().String(), msg: st.Message()}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				o.fields = append(o.fields, v.GetField())
			}
		}
	}
	return o
}

func dial(t *testing.T, addr, token string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), auth.WithToken(token),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// healthy checks every listener of the target: gRPC health without a token,
// the admin port's /healthz and the gateway's /healthz.
func (tg *target) healthy(t *testing.T) error {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(dial(t, tg.grpc, "")).Check(c, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("gRPC health of %s: %v %v", tg.grpc, resp.GetStatus(), err)
	}
	for _, u := range []string{tg.admin + "/healthz", tg.rest + "/healthz"} {
		r, err := http.Get(u)
		if err != nil {
			return fmt.Errorf("%s: %v", u, err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, r.Status)
		}
	}
	return nil
}

// restarts counts the target's containers that stopped or started again.
func (tg *target) restarts(t *testing.T) int {
	n := 0
	for _, c := range tg.containers {
		st, err := c.State(context.Background())
		if err != nil || !st.Running || st.StartedAt != tg.started[c.GetContainerID()] {
			n++
		}
	}
	return n
}

func (tg *target) recordStarts(t *testing.T) {
	tg.started = map[string]string{}
	for _, c := range tg.containers {
		st, err := c.State(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tg.started[c.GetContainerID()] = st.StartedAt
	}
}

// run tries every attack on tg and reports the counts.
func run(t *testing.T, tg *target, attacks []attack) (tried, refused int) {
	tg.recordStarts(t)
	before := tg.snapshot(t)
	t.Logf("| target | attack | expected | got | field |")
	t.Logf("|---|---|---|---|---|")
	for _, a := range attacks {
		tried++
		o := a.do(t)
		ok := o.code == a.code
		if a.field != "" {
			named := false
			for _, f := range o.fields {
				named = named || strings.HasPrefix(f, a.field)
			}
			ok = ok && named
		}
		if ok {
			refused++
		} else {
			t.Errorf("%s: %s: got %s %q (%.300s), want %s naming %q", tg.name, a.name, o.code, o.fields, o.msg, a.code, a.field)
		}
		t.Logf("| %s | %s | %s %s | %s %s |", tg.name, a.name, a.code, a.field, o.code, strings.Join(o.fields, ","))
		if err := tg.healthy(t); err != nil {
			t.Errorf("%s: after %s: %v", tg.name, a.name, err)
		}
		if after := tg.snapshot(t); after != before {
			t.Errorf("%s: %s changed the state:\nbefore %s\nafter  %s", tg.name, a.name, before, after)
			before = after
		}
	}
	return tried, refused
}

// nested is a query of depth n: ((((a)))).
func nested(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) }

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestAbuse(t *testing.T) {
	var tried, refused, restarts int
	for _, tg := range []func(*testing.T) (*target, []attack){allInOne, split} {
		target, attacks := tg(t)
		n, r := run(t, target, attacks)
		tried += n
		refused += r
		restarts += target.restarts(t)
	}
	fmt.Printf("attacks tried: %d, refused: %d, service restarts: %d\n", tried, refused, restarts)
	t.Logf("attacks tried: %d, refused: %d, service restarts: %d", tried, refused, restarts)
	if refused != tried || restarts != 0 {
		t.Fatalf("attacks tried: %d, refused: %d, service restarts: %d", tried, refused, restarts)
	}
	if tried < 40 {
		t.Fatalf("only %d attacks", tried)
	}
}

// allInOne starts the all-in-one image (the harness gives it the suite's
// tokens), lets alice own a replay, and lists the attacks on it.
func allInOne(t *testing.T) (*target, []attack) {
	yesterday := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	files := writeHostFiles(t, yesterday)
	req := testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/allinone_image.tar"),
		Cmd:          []string{"--data-dir=/tmp/data", "--log-format=text"},
		ExposedPorts: []string{"8080/tcp", "9090/tcp", "9091/tcp"},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("9091/tcp").WithStartupTimeout(90 * time.Second),
	}
	files.request(&req)
	c := harness.Start(t, nil, nil, req)
	tg := &target{name: "allinone", containers: []testcontainers.Container{c}}
	var err error
	if tg.rest, err = c.PortEndpoint(context.Background(), "8080/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	if tg.admin, err = c.PortEndpoint(context.Background(), "9091/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	if tg.grpc, err = c.PortEndpoint(context.Background(), "9090/tcp", ""); err != nil {
		t.Fatal(err)
	}
	admin, alice, bob, reader, operator := harness.Token(t, harness.Admin), harness.Token(t, harness.Alice),
		harness.Token(t, harness.Bob), harness.Token(t, harness.Reader), harness.Token(t, harness.Operator)

	// Alice's replay of yesterday's seed lines: what bob tries to take.
	var lines []string
	for i := range 20 {
		line := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"@timestamp":%q,"message":"abuse seed %d"}`, yesterday.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i)))
		lines = append(lines, fmt.Sprintf(`{"source":{"host":"abuse","filePath":"/seed.log","fileId":"seed","offset":"%d"},"line":%q}`, i*100, line))
	}
	polltest.Until(t, "alice's seed lines ingested (the router loads its catalog first)", 60*time.Second, func() (bool, string) {
		o := rest(t, "POST", tg.rest+"/v1/ingest", alice, `{"dataset":"app","lines":[`+strings.Join(lines, ",")+`]}`)
		return o.code == "200", o.msg
	})
	replay := fmt.Sprintf(`{"name":"alices","datasets":["app"],"from":%q,"to":%q}`, yesterday.Format(time.RFC3339), yesterday.Add(24*time.Hour).Format(time.RFC3339))
	polltest.Until(t, "alice's replay created (the archive flushes every 10 s)", 90*time.Second, func() (bool, string) {
		o := rest(t, "POST", tg.rest+"/v1/replays", alice, replay)
		return o.code == "200", o.msg
	})
	polltest.Until(t, "alice's replay ready", 60*time.Second, func() (bool, string) {
		o := rest(t, "GET", tg.rest+"/v1/replays/alices", alice, "")
		return strings.Contains(o.msg, "STATE_READY") && strings.Contains(o.msg, `"creator":"alice"`), o.msg
	})

	// The members' revision is etcd's: any write moves it (a replay made
	// and deleted again by a bound's attack).
	revision := regexp.MustCompile(`"revision":\s*"\d+"`)
	tg.snapshot = func(t *testing.T) string {
		var b strings.Builder
		for _, p := range []string{"/v1/replays", "/v1/datasets", "/v1/routes", "/v1/members"} {
			o := rest(t, "GET", tg.rest+p, admin, "")
			if o.code != "200" {
				t.Fatalf("snapshot %s: %s %s", p, o.code, o.msg)
			}
			b.WriteString(revision.ReplaceAllString(o.msg, ""))
		}
		return b.String()
	}

	gr := func(token string) *grpc.ClientConn { return dial(t, tg.grpc, token) }
	member := func(addr string, labels map[string]string) *membershipv1.RegisterRequest {
		return &membershipv1.RegisterRequest{Member: &membershipv1.Member{Service: "web", Id: "evil", Address: addr, Port: 80, Labels: labels},
			Ttl: durationpb.New(30 * time.Second)}
	}
	registerREST := func(addr, labels string) string {
		return fmt.Sprintf(`{"member":{"service":"web","id":"evil","address":%q,"port":80,"labels":%s},"ttl":"30s"}`, addr, labels)
	}
	weight := "1\nglobal\n master-worker\nprogram x\n command /bin/sh -c \"id > /tmp/pwned\"\n"
	// 3 MiB of parentheses: the 4 MB query that overflowed the parser's
	// stack, under gRPC's 4 MiB message limit so that the parser's own
	// bound is what refuses it.
	huge := strings.Repeat("((((", 3<<18)
	grokBomb := strings.Repeat("%{IPORHOST}", 100000)
	grokSmall := strings.Repeat("%{IPORHOST}", 2000) // short, but expands to megabytes
	flows := func(cc *grpc.ClientConn) outcome {
		st, err := topologyv1.NewTopologyServiceClient(cc).ReportFlows(ctx(t))
		if err != nil {
			return fromErr(err)
		}
		_ = st.Send(&topologyv1.ReportFlowsRequest{})
		_, err = st.CloseAndRecv()
		return fromErr(err)
	}
	reflect := func(cc *grpc.ClientConn) outcome {
		st, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx(t))
		if err != nil {
			return fromErr(err)
		}
		_ = st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = st.Recv()
		return fromErr(err)
	}
	deleteAlices := func(token string, hdr ...string) func(*testing.T) outcome {
		return func(t *testing.T) outcome { return rest(t, "DELETE", tg.rest+"/v1/replays/alices", token, "", hdr...) }
	}
	attacks := []attack{
		// No credentials, on every port.
		{"gRPC ListReplays without a token", func(t *testing.T) outcome {
			_, err := replayv1.NewReplayServiceClient(gr("")).ListReplays(ctx(t), &replayv1.ListReplaysRequest{})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC DeleteReplay of alice's without a token", func(t *testing.T) outcome {
			_, err := replayv1.NewReplayServiceClient(gr("")).DeleteReplay(ctx(t), &replayv1.DeleteReplayRequest{Name: "alices"})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC DeleteDataset without a token", func(t *testing.T) outcome {
			_, err := routingv1.NewRoutingServiceClient(gr("")).DeleteDataset(ctx(t), &routingv1.DeleteDatasetRequest{Name: "app"})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC topic retention 1 ms without a token", func(t *testing.T) outcome {
			_, err := routingv1.NewRoutingServiceClient(gr("")).UpdateDataset(ctx(t), &routingv1.UpdateDatasetRequest{
				Dataset: &routingv1.Dataset{Name: "app", Topic: &routingv1.TopicSettings{Retention: durationpb.New(time.Millisecond)}}})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC Register a fake router without a token", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(gr("")).Register(ctx(t), &membershipv1.RegisterRequest{
				Member: &membershipv1.Member{Service: "router", Id: "router-1", Address: "10.6.6.6", Port: 9101}, Ttl: durationpb.New(30 * time.Second)})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC IngestBatch overwriting events without a token", func(t *testing.T) outcome {
			_, err := routingv1.NewRoutingServiceClient(gr("")).IngestBatch(ctx(t), &routingv1.Batch{Dataset: "app",
				Lines: []*routingv1.RawLine{{Source: nil, Line: []byte("x"), ReadTime: timestamppb.Now()}}})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC ReportFlows without a token", func(t *testing.T) outcome { return flows(gr("")) }, "Unauthenticated", ""},
		{"gRPC reflection without a token", func(t *testing.T) outcome { return reflect(gr("")) }, "Unauthenticated", ""},
		{"gRPC with a forged token", func(t *testing.T) outcome {
			_, err := replayv1.NewReplayServiceClient(gr(auth.NewToken())).ListReplays(ctx(t), &replayv1.ListReplaysRequest{})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"gRPC with a token's digest as the token", func(t *testing.T) outcome {
			_, err := replayv1.NewReplayServiceClient(gr(auth.Digest(admin))).ListReplays(ctx(t), &replayv1.ListReplaysRequest{})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"REST list replays without a token", func(t *testing.T) outcome { return rest(t, "GET", tg.rest+"/v1/replays", "", "") }, "401", ""},
		{"REST delete alice's replay without a token", deleteAlices(""), "401", ""},
		{"REST register a member without a token", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", "", registerREST("10.0.0.5", "{}"))
		}, "401", ""},
		{"REST Basic credentials", func(t *testing.T) outcome {
			return rest(t, "GET", tg.rest+"/v1/datasets", "", "", "Authorization", "Basic YWRtaW46YWRtaW4=")
		}, "401", ""},
		{"REST token in a query parameter", func(t *testing.T) outcome {
			return rest(t, "GET", tg.rest+"/v1/replays?access_token="+admin, "", "")
		}, "401", ""},
		{"admin /metrics without a token", func(t *testing.T) outcome { return rest(t, "GET", tg.admin+"/metrics", "", "") }, "401", ""},

		// A role too low.
		{"reader creates a replay", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/replays", reader, strings.Replace(replay, "alices", "readers", 1))
		}, "403", ""},
		{"reader registers a member", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(gr(reader)).Register(ctx(t), member("10.0.0.5", nil))
			return fromErr(err)
		}, "PermissionDenied", ""},
		{"reader ingests", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/ingest", reader, `{"dataset":"app","lines":[`+lines[0]+`]}`)
		}, "403", ""},
		{"reader reports flows", func(t *testing.T) outcome { return flows(gr(reader)) }, "PermissionDenied", ""},
		{"operator deletes a dataset", func(t *testing.T) outcome { return rest(t, "DELETE", tg.rest+"/v1/datasets/app", operator, "") }, "403", ""},
		{"operator sets a topic's retention to 1 ms", func(t *testing.T) outcome {
			return rest(t, "PATCH", tg.rest+"/v1/datasets/app", operator, `{"name":"app","topic":{"retention":"0.001s"}}`)
		}, "403", ""},
		{"operator creates a route", func(t *testing.T) outcome {
			_, err := routingv1.NewRoutingServiceClient(gr(operator)).CreateRoute(ctx(t), &routingv1.CreateRouteRequest{Route: &routingv1.Route{Name: "steal", Dataset: "app"}})
			return fromErr(err)
		}, "PermissionDenied", ""},

		// Identity is the token's, not what the client says.
		{"bob deletes alice's replay", deleteAlices(bob), "403", ""},
		{"bob deletes alice's replay claiming to be her (Grpc-Metadata-X-Hindsight-User)", deleteAlices(bob, "Grpc-Metadata-X-Hindsight-User", "alice"), "403", ""},
		{"bob deletes alice's replay claiming to be her (X-Forwarded-User)", deleteAlices(bob, "X-Forwarded-User", "alice", "X-Hindsight-User", "alice"), "403", ""},
		{"bob deletes alice's replay over gRPC with x-hindsight-user metadata", func(t *testing.T) outcome {
			c := metadata.AppendToOutgoingContext(ctx(t), "x-hindsight-user", "alice", "x-forwarded-user", "alice")
			_, err := replayv1.NewReplayServiceClient(gr(bob)).DeleteReplay(c, &replayv1.DeleteReplayRequest{Name: "alices"})
			return fromErr(err)
		}, "PermissionDenied", ""},
		{"a reader deletes alice's replay", deleteAlices(reader), "403", ""},

		// Inputs without bounds.
		{"a 3 MiB query of parentheses (the stack overflow)", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/search", reader, `{"query":`+jsonString(huge)+`}`)
		}, "400", "query"},
		{"a 3 MiB query over gRPC", func(t *testing.T) outcome {
			_, err := replayv1.NewReplayServiceClient(gr(reader)).Search(ctx(t), &replayv1.SearchRequest{Query: huge})
			return fromErr(err)
		}, "InvalidArgument", "query"},
		{"a query nested 65 deep", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/search", reader, `{"query":`+jsonString(nested(65))+`}`)
		}, "400", "query"},
		{"a replay whose query nests 100 deep", func(t *testing.T) outcome {
			r := strings.Replace(replay, `"name":"alices"`, `"name":"deep","query":`+jsonString(nested(100)), 1)
			return rest(t, "POST", tg.rest+"/v1/replays", alice, r)
		}, "400", "query"},
		{"an estimate whose query nests 100 deep", func(t *testing.T) outcome {
			r := strings.Replace(replay, `"name":"alices"`, `"name":"deep","query":`+jsonString(nested(100)), 1)
			return rest(t, "POST", tg.rest+"/v1/replays:estimate", alice, r)
		}, "400", "query"},
		{"a 1.1 MB grok pattern (50 s, 2.6 GB before)", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/datasets", admin, `{"name":"bomb","parser":{"format":"FORMAT_REGEX","pattern":`+jsonString(grokBomb)+`}}`)
		}, "400", "parser.pattern"},
		{"a short grok pattern expanding to megabytes", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/datasets", admin, `{"name":"bomb","parser":{"format":"FORMAT_REGEX","pattern":`+jsonString(grokSmall)+`}}`)
		}, "400", "parser.pattern"},
		{"a legacy replay with a grok bomb", func(t *testing.T) outcome {
			r := strings.Replace(replay, `"name":"alices"`, `"name":"legacy-bomb","source":{"kind":"KIND_LEGACY_TREE","pathTemplate":"{dataset}/*.gz","parser":{"format":"FORMAT_REGEX","pattern":`+jsonString(grokSmall)+`}}`, 1)
			return rest(t, "POST", tg.rest+"/v1/replays", alice, r)
		}, "400", "source.parser.pattern"},
		{"SSRF: a member at the cloud metadata address", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("169.254.169.254", "{}"))
		}, "400", "member.address"},
		{"SSRF: a member at metadata.google.internal", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("metadata.google.internal", "{}"))
		}, "400", "member.address"},
		{"SSRF: a member on loopback", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(gr(operator)).Register(ctx(t), member("127.0.0.1", nil))
			return fromErr(err)
		}, "InvalidArgument", "member.address"},
		{"SSRF: a member at ::1", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("::1", "{}"))
		}, "400", "member.address"},
		{"SSRF: a member at 0.0.0.0", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("0.0.0.0", "{}"))
		}, "400", "member.address"},
		{"HAProxy config injection through the weight label", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(gr(operator)).Register(ctx(t), member("10.0.0.5", map[string]string{"weight": weight}))
			return fromErr(err)
		}, "InvalidArgument", "member.labels"},
		{"a label with a NUL", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("10.0.0.5", `{"zone":"a\u0000b"}`))
		}, "400", "member.labels"},
		{"a label key with a newline", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("10.0.0.5", `{"we\night":"1"}`))
		}, "400", "member.labels"},
		{"labels of 1 MiB on one member", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", operator, registerREST("10.0.0.5", `{"a":"`+strings.Repeat("x", 1<<20)+`"}`))
		}, "400", "member.labels"},
		// Counts: one principal cannot fill the registry or the replay
		// service (each attack removes what it was allowed to make).
		{"1 001 members of one service (the cap is 1 000)", func(t *testing.T) outcome {
			cl := membershipv1.NewMembershipServiceClient(gr(operator))
			var made []string
			defer func() {
				for _, id := range made {
					_, _ = cl.Deregister(ctx(t), &membershipv1.DeregisterRequest{Service: "flood", Id: id})
				}
			}()
			for i := range 1001 {
				id := fmt.Sprintf("flood-%d", i)
				_, err := cl.Register(ctx(t), &membershipv1.RegisterRequest{Member: &membershipv1.Member{Service: "flood", Id: id,
					Address: fmt.Sprintf("10.9.%d.%d", i/250, i%250+1), Port: 80}, Ttl: durationpb.New(60 * time.Second)})
				if err != nil {
					o := fromErr(err)
					o.msg = fmt.Sprintf("member %d refused: %s", i+1, o.msg)
					return o
				}
				made = append(made, id)
			}
			return outcome{code: "OK", msg: "1 001 members registered"}
		}, "ResourceExhausted", ""},
		{"bob keeps 21 replays (one principal may keep 20)", func(t *testing.T) outcome {
			var made []string
			defer func() {
				for _, name := range made {
					rest(t, "DELETE", tg.rest+"/v1/replays/"+name, bob, "")
				}
			}()
			for i := range 21 {
				name := fmt.Sprintf("bobs-%d", i)
				o := rest(t, "POST", tg.rest+"/v1/replays", bob, fmt.Sprintf(`{"name":%q,"datasets":["app"],"from":%q,"to":%q}`,
					name, yesterday.Format(time.RFC3339), yesterday.Add(24*time.Hour).Format(time.RFC3339)))
				if o.code != "200" {
					if !strings.Contains(o.msg, "per creator") {
						o.code = "refused by another limit"
					}
					o.msg = fmt.Sprintf("replay %d refused: %s", i+1, o.msg)
					return o
				}
				made = append(made, name)
				// Loaded before the next: the per-creator limit, not the
				// one on concurrent loads, is what must refuse.
				polltest.Until(t, name+" ready", time.Minute, func() (bool, string) {
					o := rest(t, "GET", tg.rest+"/v1/replays/"+name, bob, "")
					return strings.Contains(o.msg, "STATE_READY"), o.msg
				})
			}
			return outcome{code: "200", msg: "21 replays created"}
		}, "429", ""},
		{"a body over 16 MiB", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/search", reader, `{"query":"`+strings.Repeat("a", 17<<20)+`"}`)
		}, "413", ""},
		{"an unknown field smuggled into a replay", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/replays", alice, strings.Replace(replay, `"name":"alices"`, `"name":"x","creator":"alice","isAdmin":true`, 1))
		}, "400", ""},
		{"a replay name with path characters", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/replays", alice, strings.Replace(replay, `"name":"alices"`, `"name":"../../etc"`, 1))
		}, "400", "name"},
		{"a dataset name with a newline", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/datasets", admin, `{"name":"app\nx","parser":{"format":"FORMAT_JSON"}}`)
		}, "400", "name"},
	}
	return tg, append(attacks, boundAttacks(tg, files, yesterday)...)
}

// split starts etcd, the membership and gateway images and lists attacks on
// their ports.
func split(t *testing.T) (*target, []attack) {
	nw := harness.Network(t)
	etcd := harness.StartEtcd(t, nw)
	m := harness.Start(t, nw, []string{"membership"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/membership_image.tar"),
		ExposedPorts: []string{"9301/tcp", "9302/tcp"},
		Env:          map[string]string{"HINDSIGHT_ETCD_ENDPOINTS": etcd.NetworkEndpoint},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("9302/tcp").WithStartupTimeout(60 * time.Second),
	})
	gw := harness.Start(t, nw, []string{"gateway"}, testcontainers.ContainerRequest{
		Image:        harness.LoadImage(t, "images/gateway_image.tar"),
		ExposedPorts: []string{"8080/tcp", "9402/tcp"},
		Env:          map[string]string{"HINDSIGHT_MEMBERSHIP_ENDPOINT": "membership:9301"},
		WaitingFor:   wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(60 * time.Second),
	})
	tg := &target{name: "split", containers: []testcontainers.Container{m, gw}}
	var err error
	if tg.rest, err = gw.PortEndpoint(context.Background(), "8080/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	if tg.admin, err = m.PortEndpoint(context.Background(), "9302/tcp", "http"); err != nil {
		t.Fatal(err)
	}
	if tg.grpc, err = m.PortEndpoint(context.Background(), "9301/tcp", ""); err != nil {
		t.Fatal(err)
	}
	gwAdmin, err := gw.PortEndpoint(context.Background(), "9402/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	admin, reader, operator := harness.Token(t, harness.Admin), harness.Token(t, harness.Reader), harness.Token(t, harness.Operator)
	alice, bob := harness.Token(t, harness.Alice), harness.Token(t, harness.Bob)
	// Alice's member: another principal re-registering its id must not
	// replace it (a fake router would receive the agents' logs).
	if o := rest(t, "POST", tg.rest+"/v1/members", alice,
		`{"member":{"service":"router","id":"router-1","address":"10.1.1.1","port":9101},"ttl":"600s"}`); o.code != "200" {
		t.Fatalf("seed member: %s %s", o.code, o.msg)
	}
	tg.snapshot = func(t *testing.T) string {
		o := rest(t, "GET", tg.rest+"/v1/members", admin, "")
		if o.code != "200" {
			t.Fatalf("snapshot: %s %s", o.code, o.msg)
		}
		// Leases count down: keep what an attack could change.
		var v struct {
			Members []struct {
				Service, ID, Address string
				Port                 int
				Labels               map[string]string
			} `json:"members"`
		}
		_ = json.Unmarshal([]byte(o.msg), &v)
		b, _ := json.Marshal(v)
		return string(b)
	}
	register := func(token string, r *membershipv1.RegisterRequest) outcome {
		_, err := membershipv1.NewMembershipServiceClient(dial(t, tg.grpc, token)).Register(ctx(t), r)
		return fromErr(err)
	}
	router := func(addr string) *membershipv1.RegisterRequest {
		return &membershipv1.RegisterRequest{Member: &membershipv1.Member{Service: "router", Id: "router-1", Address: addr, Port: 9101},
			Ttl: durationpb.New(30 * time.Second)}
	}
	attacks := []attack{
		{"membership gRPC: Register without a token", func(t *testing.T) outcome { return register("", router("10.6.6.6")) }, "Unauthenticated", ""},
		{"membership gRPC: Deregister without a token", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(dial(t, tg.grpc, "")).Deregister(ctx(t), &membershipv1.DeregisterRequest{Service: "router", Id: "router-1"})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"membership gRPC: ListMembers without a token", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(dial(t, tg.grpc, "")).ListMembers(ctx(t), &membershipv1.ListMembersRequest{})
			return fromErr(err)
		}, "Unauthenticated", ""},
		{"membership gRPC: reader deregisters the router", func(t *testing.T) outcome {
			_, err := membershipv1.NewMembershipServiceClient(dial(t, tg.grpc, reader)).Deregister(ctx(t), &membershipv1.DeregisterRequest{Service: "router", Id: "router-1"})
			return fromErr(err)
		}, "PermissionDenied", ""},
		{"membership gRPC: bob's fake router replacing alice's router-1", func(t *testing.T) outcome { return register(bob, router("10.6.6.6")) }, "PermissionDenied", ""},
		{"gateway REST: bob deregisters alice's router-1", func(t *testing.T) outcome {
			return rest(t, "DELETE", tg.rest+"/v1/services/router/members/router-1", bob, "")
		}, "403", ""},
		{"membership gRPC: SSRF to the metadata service", func(t *testing.T) outcome { return register(operator, router("169.254.169.254")) }, "InvalidArgument", "member.address"},
		{"membership admin: /metrics without a token", func(t *testing.T) outcome { return rest(t, "GET", tg.admin+"/metrics", "", "") }, "401", ""},
		{"gateway admin: /metrics without a token", func(t *testing.T) outcome { return rest(t, "GET", gwAdmin+"/metrics", "", "") }, "401", ""},
		{"gateway REST: register without a token", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", "", `{"member":{"service":"router","id":"router-2","address":"10.6.6.6","port":9101},"ttl":"30s"}`)
		}, "401", ""},
		{"gateway REST: reader registers, claiming admin in Grpc-Metadata-Authorization", func(t *testing.T) outcome {
			return rest(t, "POST", tg.rest+"/v1/members", reader, `{"member":{"service":"router","id":"router-2","address":"10.6.6.6","port":9101},"ttl":"30s"}`,
				"Grpc-Metadata-Authorization", "Bearer "+admin)
		}, "403", ""},
		{"gateway REST: deregister the router without a token", func(t *testing.T) outcome {
			return rest(t, "DELETE", tg.rest+"/v1/services/router/members/router-1", "", "")
		}, "401", ""},
	}
	return tg, attacks
}
