// End-to-end proof of the log pipeline on real engines: the agent's harvester
// tails files the test writes (bind-mounted from the test's temporary
// directory) and ships them to the router, which produces them to real Kafka;
// the archiver writes them to an archive directory (bind-mounted too) and the
// indexer to real OpenSearch. Every check is exact: each line once, at its own
// time, in its daily index and date folder.
//
// The agent and archiver run as the test's own user (ContainerRequest.User),
// not the images' 65532: they read what the test wrote and the test reads and
// removes what the archiver wrote, without chmod 0777.
//
// Each test function starts its own pipeline; nothing is shared.
package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestExact100k: 3 inputs, 100 000 lines over four days, written while the
// pipeline runs, with a rename rotation, a copytruncate and an inode-reuse
// sequence on the way.
func TestExact100k(t *testing.T) {
	const total = 100_000
	c := startCluster(t)
	p := newPlan(total)
	f := newFiles(t, c.logsDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	began := time.Now()
	f.writeRange(ctx, p, 0, total, 5000, func(n int) {
		switch n {
		case 30_000:
			f.renameRotate()
		case 50_000:
			f.copyTruncate()
		case 70_000:
			f.inodeReuse(ctx)
		}
	})
	t.Logf("wrote %d lines in %s", total, time.Since(began).Round(time.Millisecond))
	took := c.waitExact(t, want{plan: p, lines: total}, 4*time.Minute)
	t.Logf("MEASURE exact100k: %d lines written to exact in OpenSearch and archive %s after the last line", total, took.Round(time.Millisecond))
}

// TestFaults: one pipeline through four phases, each exact before the next:
// Kafka stopped for 30 s, OpenSearch stopped for 60 s, router and archiver
// killed with SIGKILL, and malformed, binary and oversized lines.
func TestFaults(t *testing.T) {
	const perPhase = 20_000
	c := startCluster(t)
	p := newPlan(4 * perPhase)
	f := newFiles(t, c.logsDir)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	w := want{plan: p}

	// Lines [from, from+perPhase) at 1000 lines/s; the outage starts after
	// the first 5000 and runs beside the writer, which goes on writing.
	phase := func(t *testing.T, outage func(tb testing.TB)) {
		from := w.lines
		done := make(chan struct{})
		otb := &goroutineTB{TB: t}
		f.writeRange(ctx, p, from, from+perPhase, 1000, func(n int) {
			if n == from+5000 {
				go func() { defer close(done); outage(otb) }()
			}
		})
		w.lines += perPhase
		<-done
		if otb.failed != "" {
			t.Fatal(otb.failed)
		}
	}

	t.Run("kafka stopped 30s", func(t *testing.T) {
		f.t = t
		var started time.Time
		phase(t, func(tb testing.TB) {
			c.kafka.Stop(tb)
			time.Sleep(30 * time.Second) // the outage itself, not a wait for a condition
			c.kafka.Start(tb)
			started = time.Now()
		})
		c.waitExact(t, w, 4*time.Minute)
		t.Logf("MEASURE kafka: exact %s after Kafka was started again", time.Since(started).Round(time.Millisecond))
	})

	t.Run("opensearch stopped 60s", func(t *testing.T) {
		f.t = t
		var started time.Time
		phase(t, func(tb testing.TB) {
			c.search.Stop(tb)
			time.Sleep(60 * time.Second) // the outage itself
			lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
			lags, err := c.lag(lctx, indexerGroup)
			lcancel()
			tb.Logf("MEASURE opensearch: indexer lag after 60 s down: %v (err %v)", lags[indexerGroup], err)
			c.search.Start(tb)
			started = time.Now()
		})
		c.waitExact(t, w, 4*time.Minute)
		t.Logf("MEASURE opensearch: exact and indexer lag 0 %s after OpenSearch was started again", time.Since(started).Round(time.Millisecond))
	})

	t.Run("router and archiver SIGKILL", func(t *testing.T) {
		f.t = t
		from := w.lines
		f.writeRange(ctx, p, from, from+perPhase, 1000, func(n int) {
			switch n {
			case from + 4000:
				kill(t, "router", c.router)
			case from + 9000:
				kill(t, "archiver", c.archiver)
			case from + 14000:
				kill(t, "router", c.router)
				kill(t, "archiver", c.archiver)
			}
		})
		w.lines += perPhase
		took := c.waitExact(t, w, 4*time.Minute)
		t.Logf("MEASURE kill: exact %s after the last line", took.Round(time.Millisecond))
	})

	t.Run("malformed binary oversized", func(t *testing.T) {
		f.t = t
		first := 10_000_000
		malformed, binary, oversized := f.badLines(first)
		w.badTags = map[int][]string{}
		n := first
		for range malformed {
			w.badTags[n] = []string{"_parse_failure"}
			n++
		}
		for range binary {
			w.badTags[n] = []string{"_invalid_utf8"}
			n++
		}
		for range oversized {
			w.badTags[n] = []string{"_truncated", "_parse_failure"}
			n++
		}
		c.waitExact(t, w, 3*time.Minute)
	})
}
