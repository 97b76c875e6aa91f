// Package rules is the catalog compiled for the hot path: per dataset, its
// parser, its default topic and its routes in the order they are tried, with
// conditions ready to evaluate against a parsed event.
package rules

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/hindsight-dev/hindsight/internal/parse"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Table is a compiled catalog. It is immutable, so the ingest path reads it
// without locks while a new one is compiled for each change.
type Table struct {
	datasets map[string]*Dataset
}

// Dataset is one dataset ready to parse and route lines.
type Dataset struct {
	Name   string
	Parser *parse.Parser
	// Topic is the dataset's own topic, where events no route takes go.
	Topic  string
	routes []route
}

type route struct {
	name       string
	priority   int32
	topic      string
	copy       bool
	conditions []*parse.Condition
}

// Compile builds a table. Entries that do not compile (possible only if
// etcd was edited by hand) are logged: a dataset with a bad parser keeps its
// lines raw rather than losing them, and a bad route is left out.
func Compile(datasets map[string]*routingv1.Dataset, routes map[string]*routingv1.Route, log *slog.Logger) *Table {
	t := &Table{datasets: make(map[string]*Dataset, len(datasets))}
	for name, d := range datasets {
		cd, err := NewDataset(d)
		if err != nil {
			log.Error("dataset parser does not compile; its lines are kept raw", "dataset", name, "err", err)
			cd.Parser, _ = parse.New(nil)
		}
		t.datasets[name] = cd
	}
	for _, r := range routes {
		d := t.datasets[r.GetDataset()]
		if d == nil {
			log.Warn("route of an unknown dataset ignored", "route", r.GetName(), "dataset", r.GetDataset())
			continue
		}
		cr, err := compileRoute(r)
		if err != nil {
			log.Error("route does not compile; ignored", "route", r.GetName(), "err", err)
			continue
		}
		d.routes = append(d.routes, cr)
	}
	for _, d := range t.datasets {
		d.sortRoutes()
	}
	return t
}

// Dataset returns the compiled dataset name, or nil.
func (t *Table) Dataset(name string) *Dataset { return t.datasets[name] }

// Len is the number of datasets.
func (t *Table) Len() int { return len(t.datasets) }

// NewDataset compiles one dataset without routes (for a dataset created on
// first use, before the catalog watch delivers it). On error the returned
// Dataset is still usable but for its Parser.
func NewDataset(d *routingv1.Dataset) (*Dataset, error) {
	cd := &Dataset{Name: d.GetName(), Topic: d.GetTopic().GetTopic()}
	p, err := parse.New(d.GetParser())
	cd.Parser = p
	return cd, err
}

func compileRoute(r *routingv1.Route) (route, error) {
	cr := route{name: r.GetName(), priority: r.GetPriority(), topic: r.GetTopic(), copy: r.GetCopy()}
	for _, c := range r.GetConditions() {
		cc, err := parse.CompileCondition(c)
		if err != nil {
			return cr, fmt.Errorf("condition on %s: %w", c.GetField(), err)
		}
		cr.conditions = append(cr.conditions, cc)
	}
	return cr, nil
}

// routes are tried by ascending priority; the name breaks ties, so that
// every router tries them in the same order.
func (d *Dataset) sortRoutes() {
	slices.SortFunc(d.routes, func(a, b route) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), strings.Compare(a.name, b.name))
	})
}

// Topics appends to dst the topics e goes to: the topic of the first route
// whose conditions all hold (and the dataset's own topic too if that route
// copies), or else the dataset's own topic.
func (d *Dataset) Topics(e *eventv1.Event, dst []string) []string {
	for _, r := range d.routes {
		if r.matches(e) {
			dst = append(dst, r.topic)
			if r.copy && r.topic != d.Topic {
				dst = append(dst, d.Topic)
			}
			return dst
		}
	}
	return append(dst, d.Topic)
}

// ReadsFields reports whether routing or processing an event of d reads
// its parsed fields (a route's condition, a processor step), so that it
// needs them in eventv1.Event.Fields rather than only in the parser's list.
func (d *Dataset) ReadsFields() bool {
	if d.Parser.Steps() > 0 {
		return true
	}
	for _, r := range d.routes {
		if len(r.conditions) > 0 {
			return true
		}
	}
	return false
}

func (r route) matches(e *eventv1.Event) bool {
	for _, c := range r.conditions {
		if !c.Holds(e) {
			return false
		}
	}
	return true
}
