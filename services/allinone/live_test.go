package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/internal/index"
	"github.com/hindsight-dev/hindsight/internal/index/embedded"
	"github.com/hindsight-dev/hindsight/internal/kafkaconsume"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	indexerapp "github.com/hindsight-dev/hindsight/services/indexer/app"
)

// crashChildEnv makes the test binary the live indexer of TestLiveIndexSurvivesKill9:
// "<brokers>|<index dir>|<flushes before it kills itself, 0: never>".
const crashChildEnv = "HINDSIGHT_LIVE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(crashChildEnv); v != "" {
		os.Exit(crashChild(v))
	}
	os.Exit(m.Run())
}

const crashGroup = "hindsight-indexer"

// crashChild runs the all-in-one's live indexing (the indexer's consumer,
// liveSink, the embedded index) until it is killed, or kills itself with
// SIGKILL right after a flush has stored its batch and before the consumer
// commits it: the case a redelivery must not duplicate.
func crashChild(v string) int {
	var brokers, dir, after string
	if n, _ := fmt.Sscanf(v, "%s %s %s", &brokers, &dir, &after); n != 3 {
		fmt.Fprintln(os.Stderr, "bad", crashChildEnv, v)
		return 2
	}
	ix, err := openLive(dir, embedded.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	killAfter, _ := strconv.Atoi(after)
	sink := &killingSink{liveSink: newLiveSink(ix, indexerapp.Batch{Docs: 300, Bytes: 5 << 20, Interval: 20 * time.Millisecond}), after: killAfter}
	cons, err := kafkaconsume.New(kafkaconsume.Config{Brokers: []string{brokers}, Group: crashGroup, TopicsRegex: kafkaconsume.DefaultTopicsRegex,
		MaxPollRecords: 300, Tick: 20 * time.Millisecond, LagInterval: -1,
		// The killed member's session ends sooner, so the restarted one
		// gets the partitions in seconds.
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)}}, sink, "indexer", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := cons.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type killingSink struct {
	*liveSink
	after, flushes int
}

func (k *killingSink) Flush(ctx context.Context, all bool, parts kafkaconsume.Parts) (kafkaconsume.Marks, error) {
	m, err := k.liveSink.Flush(ctx, all, parts)
	if len(m) > 0 {
		if k.flushes++; k.after > 0 && k.flushes == k.after {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	return m, err
}

// TestLiveIndexSurvivesKill9: the live indexer is killed with SIGKILL three
// times while it indexes 30 000 records — right after a batch is stored and
// before its offsets are committed, in the middle of the ingest, and after
// it has committed everything — and restarted each time on the same
// directory; exactly the 30 000 events are searchable, each id once.
func TestLiveIndexSurvivesKill9(t *testing.T) {
	const n = 30000
	topic := "logs.app"
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range n {
		id := fmt.Sprintf("ev-%06d", i)
		v, _ := json.Marshal(map[string]any{
			"@timestamp":  base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"message":     fmt.Sprintf("GET /item/%d 200", i),
			"data_stream": map[string]any{"dataset": "app"},
			"event":       map[string]any{"id": id},
		})
		recs = append(recs, &kgo.Record{Key: []byte(id), Value: v, Partition: int32(i % 2)})
	}
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	committed := func() int64 {
		offs, err := adm.FetchOffsets(ctx, crashGroup)
		if err != nil {
			return -1
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	dir := filepath.Join(t.TempDir(), "live")
	start := func(killAfter int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", crashChildEnv, kf.ListenAddrs()[0], dir, killAfter))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	killed := func(cmd *exec.Cmd) {
		t.Helper()
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("indexer ended with %v, want killed by SIGKILL", err)
		}
	}

	// 1. Killed by itself after its 5th stored batch, before that batch's commit.
	killed(start(5))
	first := committed()
	t.Logf("killed after a stored batch: %d of %d committed", first, n)

	// 2. Killed in the middle of the ingest.
	cmd := start(0)
	polltest.Until(t, "more commits", 2*time.Minute, func() (bool, string) {
		c := committed()
		return c > first+3000, fmt.Sprintf("%d committed", c)
	})
	_ = cmd.Process.Kill()
	killed(cmd)
	mid := committed()
	t.Logf("killed mid-ingest: %d of %d committed", mid, n)
	if mid >= n {
		t.Fatalf("everything committed before the kill (%d): the ingest was not interrupted", mid)
	}

	// 3. Runs until everything is committed, then killed.
	cmd = start(0)
	polltest.Until(t, "every record committed", 3*time.Minute, func() (bool, string) {
		c := committed()
		return c == n, fmt.Sprintf("%d of %d committed", c, n)
	})
	_ = cmd.Process.Kill()
	killed(cmd)

	ix, err := openLive(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	res, err := ix.Search(ctx, index.Request{From: base, To: base.Add(time.Hour), Size: n + 100, Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, h := range res.Hits {
		var d struct {
			Event struct{ ID string } `json:"event"`
		}
		if err := json.Unmarshal(h, &d); err != nil {
			t.Fatal(err)
		}
		if ids[d.Event.ID] {
			t.Fatalf("%s searchable twice", d.Event.ID)
		}
		ids[d.Event.ID] = true
	}
	if res.Total != n || len(ids) != n {
		t.Fatalf("%d events searchable, %d distinct ids; want exactly %d", res.Total, len(ids), n)
	}
}
