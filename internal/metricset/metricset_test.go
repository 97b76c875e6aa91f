package metricset

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNamesLabelsAndRegistration(t *testing.T) {
	s := New("demo")
	c := s.CounterVec("things_total", "Things, by kind.", "kind")
	g := s.Gauge("open", "Open things.")
	h := s.Histogram("wait_seconds", "Waits.", []float64{1, 2})
	s.GaugeFunc("size", "Size.", func() float64 { return 7 })
	c.WithLabelValues("a").Add(2)
	g.Set(3)
	h.Observe(1.5)

	reg := prometheus.NewRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP hindsight_demo_open Open things.
# TYPE hindsight_demo_open gauge
hindsight_demo_open 3
# HELP hindsight_demo_size Size.
# TYPE hindsight_demo_size gauge
hindsight_demo_size 7
# HELP hindsight_demo_things_total Things, by kind.
# TYPE hindsight_demo_things_total counter
hindsight_demo_things_total{kind="a"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hindsight_demo_open", "hindsight_demo_size", "hindsight_demo_things_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h, "hindsight_demo_wait_seconds"); n != 1 {
		t.Fatalf("histogram series: %d, want 1", n)
	}
	// A second set of the same names on the same registry is refused.
	again := New("demo")
	again.Gauge("open", "Open things.")
	if err := again.Register(reg); err == nil {
		t.Fatal("registering hindsight_demo_open twice: no error")
	}
	if err := New("demo").Register(nil); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}
