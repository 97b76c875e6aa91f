package api

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	membershipv1 "github.com/hindsight-dev/hindsight/proto/hindsight/membership/v1"
)

// metricValue finds the sample of name whose labels include labels.
func metricValue(reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	fams, err := reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}

// waitMetric waits up to 5s for a metric to reach want.
func waitMetric(t *testing.T, h *harness, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, ok := metricValue(h.reg, name, labels)
		if ok && got == want || !ok && want == 0 && labels != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(member("web", "a", 80), 30*time.Second)
	h.register(member("web", "b", 80), 30*time.Second)
	h.register(member("api", "x", 80), time.Second)
	if _, err := h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.api.KeepAlive(h.ctx(), &membershipv1.KeepAliveRequest{Service: "web", Id: "zz"})
	wantCode(t, err, codes.NotFound)
	if _, err := h.api.Deregister(h.ctx(), &membershipv1.DeregisterRequest{Service: "web", Id: "b"}); err != nil {
		t.Fatal(err)
	}
	w := h.watch("web", 0)
	w.response(5 * time.Second)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hindsight_membership_registrations_total", nil, 3},
		{"hindsight_membership_deregistrations_total", nil, 1},
		{"hindsight_membership_keepalives_total", map[string]string{"result": "ok"}, 1},
		{"hindsight_membership_keepalives_total", map[string]string{"result": "not_found"}, 1},
		{"hindsight_membership_keepalives_total", map[string]string{"result": "error"}, 0},
		{"hindsight_membership_watch_streams", nil, 1},
		{"hindsight_membership_watch_events_total", map[string]string{"type": "join"}, 1},
		{"hindsight_membership_etcd_up", nil, 1},
		{"hindsight_membership_members", map[string]string{"service": "web"}, 1},
		// api/x's lease (1s) expires: the gauge follows the watch and drops the series.
		{"hindsight_membership_members", map[string]string{"service": "api"}, 0},
	} {
		waitMetric(t, h, c.name, c.labels, c.want)
	}
	if _, ok := metricValue(h.reg, "hindsight_membership_members", map[string]string{"service": "api"}); ok {
		t.Fatal("members{service=api} still exported after its last member left")
	}
}
