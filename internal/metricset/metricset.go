// Package metricset declares a component's Prometheus metrics, one line
// each, named hindsight_<subsystem>_<name>, and registers them together.
package metricset

import "github.com/prometheus/client_golang/prometheus"

// Set makes a component's metrics and keeps them for Register.
type Set struct {
	subsystem string
	made      []prometheus.Collector
}

// New starts the metrics of one subsystem ("archiver", "agent_docker", …).
func New(subsystem string) *Set { return &Set{subsystem: subsystem} }

func (s *Set) opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "hindsight", Subsystem: s.subsystem, Name: name, Help: help}
}

func keep[C prometheus.Collector](s *Set, c C) C {
	s.made = append(s.made, c)
	return c
}

// Counter is a counter without labels.
func (s *Set) Counter(name, help string) prometheus.Counter {
	return keep(s, prometheus.NewCounter(prometheus.CounterOpts(s.opts(name, help))))
}

// CounterVec is a counter by labels.
func (s *Set) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return keep(s, prometheus.NewCounterVec(prometheus.CounterOpts(s.opts(name, help)), labels))
}

// Gauge is a gauge without labels.
func (s *Set) Gauge(name, help string) prometheus.Gauge {
	return keep(s, prometheus.NewGauge(prometheus.GaugeOpts(s.opts(name, help))))
}

// GaugeVec is a gauge by labels.
func (s *Set) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return keep(s, prometheus.NewGaugeVec(prometheus.GaugeOpts(s.opts(name, help)), labels))
}

// GaugeFunc is a gauge whose value f reads at each scrape.
func (s *Set) GaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	return keep(s, prometheus.NewGaugeFunc(prometheus.GaugeOpts(s.opts(name, help)), f))
}

func (s *Set) histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	o := s.opts(name, help)
	return prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets}
}

// Histogram is a histogram without labels.
func (s *Set) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return keep(s, prometheus.NewHistogram(s.histogramOpts(name, help, buckets)))
}

// HistogramVec is a histogram by labels.
func (s *Set) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return keep(s, prometheus.NewHistogramVec(s.histogramOpts(name, help, buckets), labels))
}

// Register registers every metric made so far on reg (nil: none, as in
// tests that read the metrics directly); a name registered already is an
// error.
func (s *Set) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range s.made {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
