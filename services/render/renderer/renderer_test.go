package renderer

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/logging"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

func testLog() *slog.Logger { return logging.ForTests("RENDER_TEST_LOG") }

func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	e := etcdtest.Start(t)
	return e.Client()
}

func putMember(t *testing.T, cli *clientv3.Client, service, id, addr string, port int32, h membershipv1.Health) {
	t.Helper()
	b, err := protojson.Marshal(&membershipv1.Member{Service: service, Id: id, Address: addr, Port: port, Health: h})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), DefaultPrefix+service+"/"+id, string(b)); err != nil {
		t.Fatal(err)
	}
}

// lbTemplate is a miniature HAProxy backend; a member labelled bad=1 renders a
// line the check below rejects.
const lbTemplate = `backend web
{{- range healthy "web"}}
  server {{sanitize .ID}} {{.Addr}}{{if eq (.Label "bad" "") "1"}} BROKEN{{end}}
{{- end}}
`

// checkCmd rejects a candidate containing BROKEN, like haproxy -c would.
const checkCmd = `! grep -q BROKEN {{.src}}`

type fixture struct {
	dir, dest, reloads string
	cfg                *Config
	reg                *prometheus.Registry
}

func newFixture(t *testing.T, tmpl string, w Wait) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, dest: filepath.Join(dir, "out", "lb.cfg"), reloads: filepath.Join(dir, "reloads")}
	os.MkdirAll(filepath.Dir(f.dest), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "lb.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := `
wait: {min: ` + w.Min.String() + `, max: ` + w.Max.String() + `}
templates:
  - name: lb
    src: lb.tmpl
    dest: out/lb.cfg
    keys: [/hindsight/members/web/]
    check_cmd: "` + checkCmd + `"
    reload_cmd: "echo reload >> ` + f.reloads + `"
    mode: "0640"
`
	p := filepath.Join(dir, "render.yaml")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.reg = prometheus.NewRegistry()
	return f
}

func (f *fixture) run(t *testing.T, cli *clientv3.Client, noop bool) *Renderer {
	t.Helper()
	r, err := New(cli, f.cfg, Options{Noop: noop, Log: testLog(), Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (f *fixture) reloadCount() int {
	b, _ := os.ReadFile(f.reloads)
	return strings.Count(string(b), "reload")
}

func (f *fixture) waitDest(t *testing.T, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if b, err := os.ReadFile(f.dest); err == nil && string(b) == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := os.ReadFile(f.dest)
	t.Fatalf("dest =\n%s\nwant\n%s", b, want)
	return 0
}

func TestRendersHealthySortedMembersAndReloadsOnlyOnChange(t *testing.T) {
	cli := startEtcd(t)
	f := newFixture(t, lbTemplate, Wait{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond})
	putMember(t, cli, "web", "web-b", "10.0.0.2", 80, membershipv1.Health_HEALTH_HEALTHY)
	putMember(t, cli, "web", "web-a", "10.0.0.1", 80, membershipv1.Health_HEALTH_UNSPECIFIED)
	putMember(t, cli, "web", "web-c", "10.0.0.3", 80, membershipv1.Health_HEALTH_UNHEALTHY)
	putMember(t, cli, "db", "db-1", "10.0.1.1", 5432, membershipv1.Health_HEALTH_HEALTHY) // not watched
	f.run(t, cli, false)
	f.waitDest(t, "backend web\n  server web-a 10.0.0.1:80\n  server web-b 10.0.0.2:80\n")
	if st, _ := os.Stat(f.dest); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
	for start := time.Now(); f.reloadCount() == 0 && time.Since(start) < 5*time.Second; { // the reload runs just after the file is replaced
		time.Sleep(5 * time.Millisecond)
	}
	if n := f.reloadCount(); n != 1 {
		t.Fatalf("%d reloads after the first render, want 1", n)
	}
	// A change that does not change the output (a label nobody renders) does not reload.
	b, _ := protojson.Marshal(&membershipv1.Member{Service: "web", Id: "web-b", Address: "10.0.0.2", Port: 80, Health: membershipv1.Health_HEALTH_HEALTHY, Labels: map[string]string{"zone": "a"}})
	cli.Put(context.Background(), DefaultPrefix+"web/web-b", string(b))
	// web-c recovers: it appears.
	putMember(t, cli, "web", "web-c", "10.0.0.3", 80, membershipv1.Health_HEALTH_HEALTHY)
	took := f.waitDest(t, "backend web\n  server web-a 10.0.0.1:80\n  server web-b 10.0.0.2:80\n  server web-c 10.0.0.3:80\n")
	t.Logf("change to file in %s (wait.min 50ms)", took)
	time.Sleep(200 * time.Millisecond)
	if n := f.reloadCount(); n != 2 {
		t.Fatalf("%d reloads, want 2", n)
	}
	if got := testutil.ToFloat64(f.metricVec(t, "hindsight_render_members", map[string]string{"service": "web", "health": "healthy"})); got != 2 {
		t.Fatalf("members{web,healthy} = %v, want 2", got)
	}
	// No temporary files are left next to dest.
	if ents, _ := os.ReadDir(filepath.Dir(f.dest)); len(ents) != 1 {
		t.Fatalf("files next to dest: %v", ents)
	}
}

// metricVec sums the samples of a metric whose labels include want.
func (f *fixture) metricVec(t *testing.T, name string, want map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			labels := map[string]string{}
			for _, lp := range m.Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	g.Set(sum)
	return g
}

func TestBurstIsDebouncedIntoOneOrTwoReloads(t *testing.T) {
	cli := startEtcd(t)
	f := newFixture(t, lbTemplate, Wait{Min: 150 * time.Millisecond, Max: time.Second})
	putMember(t, cli, "web", "web-0", "10.0.0.100", 80, membershipv1.Health_HEALTH_HEALTHY)
	f.run(t, cli, false)
	f.waitDest(t, "backend web\n  server web-0 10.0.0.100:80\n")
	for f.reloadCount() == 0 { // the reload runs just after the file is replaced
		time.Sleep(5 * time.Millisecond)
	}
	before := f.reloadCount()
	start := time.Now()
	for i := 1; i <= 10; i++ { // ten changes in about 100ms
		putMember(t, cli, "web", "web-"+string(rune('0'+i%10))+"x", "10.0.0."+string(rune('0'+i%10)), 80, membershipv1.Health_HEALTH_HEALTHY)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("10 changes in %s", time.Since(start))
	cli.Delete(context.Background(), DefaultPrefix+"web/web-0")
	want := "backend web\n"
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
		want += "  server web-" + string(rune('0'+i)) + "x 10.0.0." + string(rune('0'+i)) + ":80\n"
	}
	f.waitDest(t, want)
	time.Sleep(400 * time.Millisecond)
	n := f.reloadCount() - before
	t.Logf("reloads for the burst: %d", n)
	if n < 1 || n > 2 {
		t.Fatalf("%d reloads for a burst of 11 changes, want 1 or 2", n)
	}
	if got := testutil.ToFloat64(f.metricVec(t, "hindsight_render_watch_to_reload_seconds", map[string]string{"resource": "lb"})); got != float64(n) {
		t.Fatalf("latency observations = %v, want %d", got, n)
	}
}

func TestFailedCheckKeepsTheOldFileAndReports(t *testing.T) {
	cli := startEtcd(t)
	f := newFixture(t, `backend web
{{- range members "web"}}
  server {{.ID}} {{.Addr}}{{if eq (.Label "bad" "") "1"}} BROKEN{{end}}
{{- end}}
`, Wait{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond})
	putMember(t, cli, "web", "a", "10.0.0.1", 80, 0)
	var statuses []Status
	r, err := New(cli, f.cfg, Options{Log: testLog(), Registerer: f.reg, OnStatus: func(s Status) { statuses = append(statuses, s) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	good := "backend web\n  server a 10.0.0.1:80\n"
	f.waitDest(t, good)

	b, _ := protojson.Marshal(&membershipv1.Member{Service: "web", Id: "b", Address: "10.0.0.2", Port: 80, Labels: map[string]string{"bad": "1"}})
	cli.Put(context.Background(), DefaultPrefix+"web/b", string(b))
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(f.metricVec(t, "hindsight_render_check_failures_total", nil)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no check failure reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(f.dest); string(b) != good {
		t.Fatalf("dest changed after a failed check:\n%s", b)
	}
	st := r.Statuses()[0]
	if st.OK || st.Stage != "check" || !strings.Contains(st.Error, "check command rejected") {
		t.Fatalf("status = %+v", st)
	}
	if got := testutil.ToFloat64(f.metricVec(t, "hindsight_render_failing", nil)); got != 1 {
		t.Fatalf("failing = %v", got)
	}
	if n := f.reloadCount(); n != 1 {
		t.Fatalf("%d reloads, want 1 (none for the rejected config)", n)
	}
	// The bad member leaves: the next render is accepted and the status clears.
	cli.Delete(context.Background(), DefaultPrefix+"web/b")
	putMember(t, cli, "web", "c", "10.0.0.3", 80, 0)
	f.waitDest(t, good+"  server c 10.0.0.3:80\n")
	time.Sleep(50 * time.Millisecond)
	if st := r.Statuses()[0]; !st.OK {
		t.Fatalf("status after recovery = %+v", st)
	}
}

func TestOnetimeAndNoop(t *testing.T) {
	cli := startEtcd(t)
	f := newFixture(t, lbTemplate, Wait{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond})
	putMember(t, cli, "web", "a", "10.0.0.1", 80, 0)

	noop, err := New(cli, f.cfg, Options{Noop: true, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := noop.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.dest); !os.IsNotExist(err) || f.reloadCount() != 0 {
		t.Fatalf("noop wrote or reloaded (stat err %v, reloads %d)", err, f.reloadCount())
	}
	once, err := New(cli, f.cfg, Options{Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := once.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.dest); string(b) != "backend web\n  server a 10.0.0.1:80\n" || f.reloadCount() != 1 {
		t.Fatalf("onetime: dest %q, reloads %d", b, f.reloadCount())
	}
	// A failing check makes Once fail.
	bad, _ := protojson.Marshal(&membershipv1.Member{Service: "web", Id: "b", Address: "10.0.0.2", Port: 80, Labels: map[string]string{"bad": "1"}})
	cli.Put(context.Background(), DefaultPrefix+"web/b", string(bad))
	if err := once.Once(context.Background()); err == nil || !strings.Contains(err.Error(), "check command rejected") {
		t.Fatalf("Once with a rejected config: %v", err)
	}
}

func TestLookupFuncs(t *testing.T) {
	v := &view{prefix: DefaultPrefix, kvs: map[string]string{
		"/app/db/host": "db1", "/app/db/port": "5432", "/app/name": "shop",
		"/app/upstreams/a/addr": "1", "/app/upstreams/b/addr": "2",
	}}
	tmpl := `{{getv "/app/name"}} {{getv "/app/missing" "def"}} {{join "," (ls "/app")}} {{join "," (lsdir "/app")}} {{join "," (getvs "/app/db/")}} {{exists "/app/db/host"}} {{range gets "/app/upstreams/"}}{{base (dir .Key)}}={{.Value}};{{end}}`
	out, err := execute(v, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if want := "shop def db,name,upstreams db,upstreams db1,5432 true a=1;b=2;"; out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
	if _, err := execute(v, `{{getv "/nope"}}`); err == nil {
		t.Fatal("getv of a missing key without default succeeded")
	}
}

func TestLoadRejectsUnknownFieldsAndBadValues(t *testing.T) {
	dir := t.TempDir()
	for conf, want := range map[string]string{
		"templates: [{src: a, dest: b, reload: x}]":                           "field reload not found",
		"templates: [{src: a, dest: b, mode: '999'}]":                         "octal",
		"templates: [{src: a, dest: b, wait: {min: 2s, max: 1s}}]":            "below min",
		"templates: [{src: a}]":                                               "required",
		"templates: [{src: a, dest: b, check_cmd: 'x {{.src'}]":               "check_cmd",
		"templates: [{name: x, src: a, dest: b}, {name: x, src: a, dest: c}]": "used twice",
		"wait: {min: 1s}": "no templates",
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(conf), 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", conf, err, want)
		}
	}
}
