package api

import (
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hindsight-dev/hindsight/services/replay/source"
)

// maxSources bounds the open sources (buckets, parsers): each distinct
// source of a CreateReplay or EstimateReplay opens one, and a client can
// name as many as it likes.
const maxSources = 16

// sources keeps the most recently used sources open. An evicted source is
// closed once the last load or plan using it lets go. Callers hold s.mu.
type sources struct {
	cache *lru.Cache[string, *openSource]
	open  prometheus.Gauge // sources not closed yet
}

type openSource struct {
	src     source.Source
	refs    int
	evicted bool
}

func newSources(open prometheus.Gauge) *sources {
	s := &sources{open: open}
	c, err := lru.NewWithEvict(maxSources, func(_ string, o *openSource) {
		o.evicted = true
		if o.refs == 0 {
			s.close(o)
		}
	})
	if err != nil {
		panic(err) // only for a size <= 0
	}
	s.cache = c
	return s
}

func (c *sources) close(o *openSource) {
	_ = o.src.Close()
	c.open.Dec()
}

// get returns the cached source of key (opening it with open) and the
// function that releases it.
func (c *sources) get(key string, open func() (source.Source, error)) (source.Source, func(), error) {
	o, ok := c.cache.Get(key)
	if !ok {
		src, err := open()
		if err != nil {
			return nil, nil, err
		}
		o = &openSource{src: src}
		c.open.Inc()
		c.cache.Add(key, o)
	}
	o.refs++
	return o.src, func() {
		o.refs--
		if o.evicted && o.refs == 0 {
			c.close(o)
		}
	}, nil
}

// closeAll closes every source (the service is closing).
func (c *sources) closeAll() { c.cache.Purge() }

// len is the number of cached sources.
func (c *sources) len() int { return c.cache.Len() }
