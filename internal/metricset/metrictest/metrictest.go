// Package metrictest reads, in tests, what a registry holds of a metric.
package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Sum adds up the series of metric name that g gathers (counter, gauge or
// untyped values) whose labels include match (nil: every series): what a
// test asserts of a labelled metric, where testutil.ToFloat64 wants one
// series.
func Sum(t testing.TB, g prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			n := 0
			for _, lp := range m.GetLabel() {
				if v, ok := match[lp.GetName()]; ok {
					if v != lp.GetValue() {
						continue series
					}
					n++
				}
			}
			if n == len(match) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			}
		}
	}
	return sum
}
