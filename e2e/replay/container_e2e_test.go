package replay

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	"github.com/hindsight-dev/hindsight/services/replay/api"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/container"
	"github.com/hindsight-dev/hindsight/services/replay/replaytest"
)

// Target (c): a replay in its own OpenSearch container, started through the
// Docker engine API, its address reported, removed with the replay. The
// service runs in the test process (the image runs unprivileged, without
// the engine's socket), on the suite's etcd and archive.
func (s *suite) containerTarget(t *testing.T) {
	ctx := context.Background()
	// The replay service's defaults: a ready replay keeps its JVM until it
	// expires, within these.
	const memory, cpus = 1 << 30, 1.0
	b, err := container.New(container.Config{Image: harness.OpenSearchImage, MemoryBytes: memory, CPUs: cpus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Drop(context.Background(), "own-node"); b.Close() })
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{s.etcd.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	svc, err := api.New(api.Config{
		Etcd:          etcd,
		Prefix:        "/e2e/container-target/",
		ArchiveURL:    "file://" + s.archiveDir,
		Backends:      map[replayv1.Target_Kind]index.Backend{replayv1.Target_KIND_OPENSEARCH_CONTAINER: b},
		DefaultTarget: replayv1.Target_KIND_OPENSEARCH_CONTAINER,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); svc.Run(rctx) }()
	t.Cleanup(func() { stop(); <-ran; svc.Close() })

	began := time.Now()
	if _, err := svc.CreateReplay(ctx, &replayv1.CreateReplayRequest{Replay: replayOf("own-node", day2, day3, "app")}); err != nil {
		t.Fatal(err)
	}
	var r *replayv1.Replay
	for deadline := time.Now().Add(4 * time.Minute); ; {
		if r, err = svc.GetReplay(ctx, &replayv1.GetReplayRequest{Name: "own-node"}); err != nil {
			t.Fatal(err)
		}
		if r.GetState() == replayv1.State_STATE_READY {
			break
		}
		if r.GetState() == replayv1.State_STATE_FAILED || time.Now().After(deadline) {
			t.Fatalf("replay in its own container: %v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	addr := r.GetTarget().GetAddress()
	t.Logf("replay in its own OpenSearch container at %s, ready %s after create", addr, time.Since(began).Round(time.Millisecond))
	if !strings.HasPrefix(addr, "http://127.0.0.1:") {
		t.Fatalf("address %q", addr)
	}
	docker, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	in, err := docker.ContainerInspect(ctx, container.Name("own-node"), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hc := in.Container.HostConfig; hc == nil || hc.Memory != memory || hc.NanoCPUs != int64(cpus*1e9) {
		t.Fatalf("the replay's container runs without its limits: %+v", hc)
	}
	want := replaytest.IDs(s.events, replaytest.In(day2, day3, "app"))
	resp, err := http.Get(addr + "/replay-own-node/_count")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the replay's own node: %v %v", resp, err)
	}
	resp.Body.Close()
	res, err := svc.Search(ctx, &replayv1.SearchRequest{Replay: "own-node", PageSize: 500})
	if err != nil || res.GetTotal() != int64(len(want)) {
		t.Fatalf("search: %d events, %v; want %d", res.GetTotal(), err, len(want))
	}

	if _, err := svc.DeleteReplay(ctx, &replayv1.DeleteReplayRequest{Name: "own-node"}); err != nil {
		t.Fatal(err)
	}
	if _, err := docker.ContainerInspect(ctx, container.Name("own-node"), client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("the replay's container outlived it: %v", err)
	}
}
