package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"kind", "zone"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "open", Help: "Open."})
	reg.MustRegister(c, g)
	c.WithLabelValues("a", "x").Add(2)
	c.WithLabelValues("a", "y").Add(3)
	c.WithLabelValues("b", "x").Add(5)
	g.Set(4)
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"things_total", nil, 10},
		{"things_total", map[string]string{"kind": "a"}, 5},
		{"things_total", map[string]string{"kind": "a", "zone": "x"}, 2},
		{"things_total", map[string]string{"kind": "c"}, 0},
		{"things_total", map[string]string{"colour": "red"}, 0},
		{"open", nil, 4},
		{"absent", nil, 0},
	} {
		if got := Sum(t, reg, tc.name, tc.match); got != tc.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tc.name, tc.match, got, tc.want)
		}
	}
}
