// Package embedded keeps each replay's events in its own embedded index
// (internal/index/embedded) in a directory on local disk: the all-in-one's
// target, which needs no OpenSearch. Every replay gets <dir>/<replay>/,
// removed with the replay.
package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	engine "github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/services/replay/index"
)

// Backend opens replay indices under one directory.
type Backend struct {
	dir string

	mu   sync.Mutex
	open map[string]*Index
}

// New returns a backend keeping indices under dir (created if missing).
func New(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded index dir: %w", err)
	}
	return &Backend{dir: dir, open: map[string]*Index{}}, nil
}

// Open opens or creates the replay's index. The same replay opened twice
// shares one handle (the engine locks its directory).
func (b *Backend) Open(_ context.Context, replay string) (index.Index, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path := filepath.Join(b.dir, replay)
	if ix, ok := b.open[replay]; ok {
		ix.refs++
		return ix, path, nil
	}
	e, err := engine.Open(path)
	if err != nil {
		return nil, "", err
	}
	ix := &Index{Index: e, b: b, name: replay, refs: 1}
	b.open[replay] = ix
	return ix, path, nil
}

// Drop closes the replay's index if open and removes its directory.
func (b *Backend) Drop(_ context.Context, replay string) error {
	b.mu.Lock()
	if ix, ok := b.open[replay]; ok {
		delete(b.open, replay)
		ix.refs = 0
		_ = ix.Index.Close()
	}
	b.mu.Unlock()
	return os.RemoveAll(filepath.Join(b.dir, replay))
}

// Index is one handle on a replay's index.
type Index struct {
	*engine.Index
	b    *Backend
	name string
	refs int
}

// Close releases this handle; the last one closes the index.
func (ix *Index) Close() error {
	ix.b.mu.Lock()
	defer ix.b.mu.Unlock()
	if ix.refs == 0 {
		return nil // dropped
	}
	if ix.refs--; ix.refs > 0 {
		return nil
	}
	delete(ix.b.open, ix.name)
	return ix.Index.Close()
}
