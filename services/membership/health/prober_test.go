package health

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/etcdembed/etcdtest"
	"github.com/hindsight-dev/hindsight/internal/logging"
	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
	"github.com/hindsight-dev/hindsight/services/membership/api"
)

func testLog() *slog.Logger { return logging.ForTests("MEMBERSHIP_TEST_LOG") }

func TestDamper(t *testing.T) {
	H, U := membershipv1.Health_HEALTH_HEALTHY, membershipv1.Health_HEALTH_UNHEALTHY
	d := damper{threshold: 3}
	steps := []struct {
		ok   bool
		want membershipv1.Health
	}{
		{false, U},                       // unknown takes the first result
		{true, U}, {true, U}, {false, U}, // a streak broken by a failure
		{true, U}, {true, U}, {true, H}, // three in a row
		{false, H}, {true, H}, {false, H}, {false, H}, {false, U},
	}
	for i, s := range steps {
		if got := d.observe(s.ok); got != s.want {
			t.Fatalf("step %d (ok=%v): %s, want %s", i, s.ok, got, s.want)
		}
	}
}

func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

func TestProbeTCPAndHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	member := func(hc *membershipv1.HealthCheck) check {
		return newCheck(&membershipv1.Member{Address: host, Port: port, HealthCheck: hc})
	}
	ctx := context.Background()
	tcp := member(&membershipv1.HealthCheck{Probe: &membershipv1.HealthCheck_Tcp{Tcp: &membershipv1.TCPProbe{}}})
	if err := tcp.probe(ctx); err != nil {
		t.Fatalf("tcp probe of a listening port: %v", err)
	}
	httpc := member(&membershipv1.HealthCheck{Probe: &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{Path: "/healthz"}}})
	if err := httpc.probe(ctx); err != nil {
		t.Fatalf("http probe answering 200: %v", err)
	}
	status.Store(503)
	if err := httpc.probe(ctx); err == nil {
		t.Fatal("http probe answering 503 passed")
	}
	want503 := member(&membershipv1.HealthCheck{Probe: &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{Path: "/healthz", ExpectedStatus: 503}}})
	if err := want503.probe(ctx); err != nil {
		t.Fatalf("expected status 503: %v", err)
	}
	srv.Close()
	if err := tcp.probe(ctx); err == nil {
		t.Fatal("tcp probe of a closed port passed")
	}
}

type env struct {
	etcd *etcdembed.Etcd
	reg  *api.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := etcdtest.Start(t)
	reg, err := api.New(e.Client(), api.Options{Log: testLog(), Addresses: api.AddressPolicy{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return &env{etcd: e, reg: reg}
}

// startProber runs a prober until the returned cancel (or the test's end).
func (e *env) startProber(t *testing.T, identity string) (*Prober, *prometheus.Registry, context.CancelFunc) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := New(e.etcd.Client(), Options{Prefix: api.DefaultPrefix, SessionTTL: time.Second, Identity: identity, Log: testLog().With("prober", identity), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, reg, stop
}

func (e *env) register(t *testing.T, id, addr string, hc *membershipv1.HealthCheck) {
	t.Helper()
	host, port := hostPort(t, addr)
	_, err := e.reg.Register(context.Background(), &membershipv1.RegisterRequest{
		Member: &membershipv1.Member{Service: "web", Id: id, Address: host, Port: port, HealthCheck: hc},
		Ttl:    durationpb.New(30 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stored reads the member as stored in etcd (nil when absent).
func (e *env) stored(t *testing.T, id string) (*membershipv1.Member, int64) {
	t.Helper()
	get, err := e.etcd.Client().Get(context.Background(), api.DefaultPrefix+"web/"+id)
	if err != nil {
		t.Fatal(err)
	}
	if len(get.Kvs) == 0 {
		return nil, 0
	}
	m := &membershipv1.Member{}
	if err := protojson.Unmarshal(get.Kvs[0].Value, m); err != nil {
		t.Fatal(err)
	}
	return m, get.Kvs[0].Lease
}

func (e *env) waitHealth(t *testing.T, id string, want membershipv1.Health, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if m, _ := e.stored(t, id); m != nil && m.Health == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m, _ := e.stored(t, id)
	t.Fatalf("member %s: health %s after %s, want %s", id, m.GetHealth(), within, want)
	return 0
}

func httpCheck(path string, threshold int32) *membershipv1.HealthCheck {
	return &membershipv1.HealthCheck{
		Probe:     &membershipv1.HealthCheck_Http{Http: &membershipv1.HTTPProbe{Path: path}},
		Interval:  durationpb.New(200 * time.Millisecond),
		Timeout:   durationpb.New(100 * time.Millisecond),
		Threshold: threshold,
	}
}

func TestProberMarksDownAndUpKeepingTheLease(t *testing.T) {
	e := newEnv(t)
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, reg, _ := e.startProber(t, "a")
	e.register(t, "w1", srv.Listener.Addr().String(), httpCheck("/health", 2))
	e.register(t, "plain", srv.Listener.Addr().String(), nil) // no check: never touched
	_, lease := e.stored(t, "w1")

	e.waitHealth(t, "w1", membershipv1.Health_HEALTH_HEALTHY, 3*time.Second)
	healthy.Store(false)
	took := e.waitHealth(t, "w1", membershipv1.Health_HEALTH_UNHEALTHY, 3*time.Second)
	t.Logf("marked down %s after the member started failing (interval 200ms, threshold 2)", took)
	if m, l := e.stored(t, "w1"); l != lease || m.LeaseId != int64(lease) {
		t.Fatalf("lease changed: %d (stored %d), want %d", l, m.LeaseId, lease)
	}
	// healthy_only hides it; the member is still there.
	list, err := e.reg.ListMembers(context.Background(), &membershipv1.ListMembersRequest{Service: "web", HealthyOnly: true})
	if err != nil || len(list.Members) != 1 || list.Members[0].Id != "plain" {
		t.Fatalf("healthy members = %v (%v), want only plain", list.GetMembers(), err)
	}
	healthy.Store(true)
	e.waitHealth(t, "w1", membershipv1.Health_HEALTH_HEALTHY, 3*time.Second)
	if m, _ := e.stored(t, "plain"); m.Health != membershipv1.Health_HEALTH_UNSPECIFIED {
		t.Fatalf("member without a check got health %s", m.Health)
	}
	if n := testutil.ToFloat64(mustVec(t, reg, "hindsight_membership_health_transitions_total", "to", "unhealthy")); n != 1 {
		t.Fatalf("unhealthy transitions = %v, want 1", n)
	}
	if n := testutil.ToFloat64(mustVec(t, reg, "hindsight_membership_health_transitions_total", "to", "healthy")); n != 2 {
		t.Fatalf("healthy transitions = %v, want 2", n)
	}
}

// mustVec finds a counter of the registry by name and one label value.
func mustVec(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c.Add(sum)
	return c
}

func TestProberNeverResurrectsADeletedMember(t *testing.T) {
	e := newEnv(t)
	// A member that fails at once, with a slow answer so a write races the delete.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	e.startProber(t, "a")
	for i := 0; i < 20; i++ {
		id := "gone" + strconv.Itoa(i)
		e.register(t, id, srv.Listener.Addr().String(), httpCheck("/", 1))
		time.Sleep(time.Duration(i*3) * time.Millisecond)
		if _, err := e.reg.Deregister(context.Background(), &membershipv1.DeregisterRequest{Service: "web", Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(700 * time.Millisecond) // several probe intervals
	get, err := e.etcd.Client().Get(context.Background(), api.DefaultPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if get.Count != 0 {
		t.Fatalf("%d deregistered members came back", get.Count)
	}
}

func TestOnlyTheLeaderProbesAndAFollowerTakesOver(t *testing.T) {
	e := newEnv(t)
	var hits atomic.Int64
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, regA, stopA := e.startProber(t, "a")
	// Let a win before b campaigns.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(mustGauge(t, regA, "hindsight_membership_prober_leader")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a never led")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, regB, _ := e.startProber(t, "b")
	e.register(t, "w1", srv.Listener.Addr().String(), httpCheck("/", 1))
	e.waitHealth(t, "w1", membershipv1.Health_HEALTH_HEALTHY, 3*time.Second)

	// One prober: about one probe per 200ms interval, not two.
	hits.Store(0)
	time.Sleep(time.Second)
	if n := hits.Load(); n > 7 {
		t.Fatalf("%d probes in 1s at a 200ms interval: more than one prober is probing", n)
	}
	if got := testutil.ToFloat64(mustGauge(t, regB, "hindsight_membership_prober_leader")); got != 0 {
		t.Fatal("b leads while a does")
	}
	stopA() // a graceful stop resigns at once
	healthy.Store(false)
	took := e.waitHealth(t, "w1", membershipv1.Health_HEALTH_UNHEALTHY, 5*time.Second)
	t.Logf("b took over and marked the member down %s after a stopped", took)
	if got := testutil.ToFloat64(mustGauge(t, regB, "hindsight_membership_prober_leader")); got != 1 {
		t.Fatal("b does not lead after a stopped")
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			g.Set(mf.Metric[0].GetGauge().GetValue())
		}
	}
	return g
}

// A host name resolving to a metadata address is refused when the probe
// connects, whatever the registry accepted.
func TestProbeRefusesLinkLocal(t *testing.T) {
	for _, addr := range []string{"169.254.169.254:80", "[fe80::1]:80", "0.0.0.0:80"} {
		for _, http := range []bool{false, true} {
			c := check{addr: addr, timeout: time.Second}
			if http {
				c.http = &membershipv1.HTTPProbe{}
			}
			if err := c.probe(context.Background()); err == nil || !strings.Contains(err.Error(), "probe refused") {
				t.Errorf("%s (http %v): %v", addr, http, err)
			}
		}
	}
}
