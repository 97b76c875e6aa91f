// Package routers tells the harvester where the routers are: a static list of
// addresses, or the healthy members of the router service in the membership
// service with the static list as fallback. It also ranks routers per input,
// so that inputs spread over routers and each input sticks to one.
package routers

import (
	"hash/fnv"
	"slices"
	"sync"
)

// List is the current set of router addresses ("host:port"), safe for
// concurrent use.
type List struct {
	mu      sync.Mutex
	addrs   []string
	changed chan struct{}
}

// NewList starts with addrs.
func NewList(addrs ...string) *List {
	l := &List{changed: make(chan struct{})}
	l.addrs = normalize(addrs)
	return l
}

func normalize(addrs []string) []string {
	out := slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { return a == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

// Addrs returns the current addresses (sorted, without duplicates).
func (l *List) Addrs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs
}

// Changed returns a channel closed at the next change of the addresses.
func (l *List) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Set replaces the addresses; waiters are woken only on an actual change.
func (l *List) Set(addrs []string) {
	addrs = normalize(addrs)
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Equal(addrs, l.addrs) {
		return
	}
	l.addrs = addrs
	close(l.changed)
	l.changed = make(chan struct{})
}

// Order ranks addrs for key by rendezvous hashing: each key prefers its own
// router, keys spread evenly, and when a router leaves only its keys move.
func Order(key string, addrs []string) []string {
	type ranked struct {
		addr  string
		score uint64
	}
	r := make([]ranked, len(addrs))
	for i, a := range addrs {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(a))
		r[i] = ranked{a, mix(h.Sum64())}
	}
	slices.SortFunc(r, func(a, b ranked) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	out := make([]string, len(r))
	for i := range r {
		out[i] = r[i].addr
	}
	return out
}

// mix spreads FNV's output, whose high bits vary little for similar inputs.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
