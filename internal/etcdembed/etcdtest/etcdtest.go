// Package etcdtest gives a test its own embedded etcd (internal/etcdembed)
// in the test's temporary directory, closed when the test ends.
package etcdtest

import (
	"context"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
)

// startWithin bounds the start of the etcd (a loaded machine is slow).
const startWithin = 30 * time.Second

// Start starts the etcd; it is closed after everything the test registers
// with t.Cleanup later (the servers using it stop first).
func Start(t testing.TB) *etcdembed.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWithin)
	defer cancel()
	e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
