package api

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hindsight-dev/hindsight/services/replay/source"
)

type fakeSource struct {
	source.Source
	closed *int
}

func (f fakeSource) Close() error { *f.closed++; return nil }

// Sources beyond maxSources are closed, least recently used first, and a
// source in use is closed only when released.
func TestSourcesLRU(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "open"})
	c := newSources(gauge)
	closed := 0
	open := func() (source.Source, error) { return fakeSource{closed: &closed}, nil }
	_, keep, _ := c.get("in-use", open)
	for i := range 200 {
		_, release, err := c.get(fmt.Sprint(i), open)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if c.len() != maxSources {
		t.Fatalf("%d sources open, want %d", c.len(), maxSources)
	}
	if closed != 200+1-maxSources-1 {
		t.Fatalf("%d closed, want %d (the one in use still open)", closed, 200-maxSources)
	}
	if g := testutil.ToFloat64(gauge); g != maxSources+1 {
		t.Fatalf("gauge says %v open, want %d (the cached ones and the one in use)", g, maxSources+1)
	}
	keep()
	if closed != 200+1-maxSources {
		t.Fatalf("%d closed after release", closed)
	}
	c.closeAll()
	if closed != 201 || testutil.ToFloat64(gauge) != 0 {
		t.Fatalf("%d closed after closeAll, gauge %v", closed, testutil.ToFloat64(gauge))
	}
}
