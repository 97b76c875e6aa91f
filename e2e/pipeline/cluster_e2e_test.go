package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/polltest"
)

// The consumer groups of the archiver and the indexer (their defaults).
const (
	archiverGroup = "hindsight-archiver"
	indexerGroup  = "hindsight-indexer"
)

// routerConfig declares the datasets the suites write, with small topics (a
// single broker, two cores).
const routerConfig = `
defaults:
  topic: {partitions: 2, replication_factor: 1, retention: 7d, compression: zstd}
datasets:
  - name: nginx.access
    parser: {format: combined}
  - name: app
    parser: {format: json}
  - name: syslog
    parser: {format: rfc5424}
  - name: app.bad
    parser: {format: json}
`

// harvesterConfig reads the three inputs (and the bad lines' one) under /logs.
// Patterns match the rotated names too: a renamed file is read to its end, and
// a copytruncate copy lets the harvester resume where the original left off.
const harvesterConfig = `
host: node-1
registry: /state/registry.json
routers: ["router:9101"]
max_line_bytes: %d
registry_flush: 500ms
close_inactive: 30s
batch: {max_lines: 1000, linger: 100ms}
backoff: {initial: 100ms, max: 2s}
ack_timeout: 45s
inputs:
  - dataset: nginx.access
    parser: combined
    paths: ["/logs/nginx/access.log*"]
    scan_interval: 1s
  - dataset: app
    parser: json
    paths: ["/logs/app/app.log*"]
    scan_interval: 1s
  - dataset: syslog
    parser: rfc5424
    paths: ["/logs/syslog/*.log"]
    scan_interval: 1s
  - dataset: app.bad
    parser: json
    paths: ["/logs/bad/*.log"]
    scan_interval: 1s
`

// maxLineBytes is the harvester's cut for the oversized lines.
const maxLineBytes = 8192

// cluster is one whole pipeline for one test: Kafka, OpenSearch and etcd, the
// router, archiver and indexer, and the agent's harvester tailing logsDir; the
// archive is archiveDir. Nothing is shared between tests.
type cluster struct {
	nw         *testcontainers.DockerNetwork
	kafka      *harness.Kafka
	search     *harness.OpenSearch
	etcd       *harness.Etcd
	router     testcontainers.Container
	archiver   testcontainers.Container
	indexer    testcontainers.Container
	agent      testcontainers.Container
	logsDir    string
	archiveDir string
	adm        *kadm.Client
}

// asTestUser runs a container as the test process's user and group, so that
// the files it writes in bind-mounted directories (the archive) belong to the
// test, which reads and removes them, and it reads what the test wrote.
func asTestUser() string { return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) }

// startCluster starts a whole pipeline. The engines start concurrently.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	began := time.Now()
	c := &cluster{logsDir: harness.HostDir(t, "logs"), archiveDir: harness.HostDir(t, "archive")}
	for _, d := range []string{"nginx", "app", "syslog", "bad"} {
		if err := os.Mkdir(filepath.Join(c.logsDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stateDir := harness.HostDir(t, "state")
	c.nw = harness.Network(t)
	// Load the images first (one at a time), then start the engines together.
	routerImg := harness.LoadImage(t, "images/router_image.tar")
	archiverImg := harness.LoadImage(t, "images/archiver_image.tar")
	indexerImg := harness.LoadImage(t, "images/indexer_image.tar")
	agentImg := harness.LoadImage(t, "images/agent_image.tar")
	concurrently(t,
		func(tb testing.TB) { c.kafka = harness.StartKafka(tb, c.nw) },
		func(tb testing.TB) { c.search = harness.StartOpenSearch(tb, c.nw) },
		func(tb testing.TB) { c.etcd = harness.StartEtcd(tb, c.nw) },
	)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	c.adm = kadm.NewClient(kcl)

	c.router = harness.Start(t, c.nw, []string{"router"}, testcontainers.ContainerRequest{
		Image: routerImg,
		Cmd: []string{"--kafka-brokers=" + c.kafka.NetworkBrokers[0], "--etcd-endpoints=etcd:2379",
			"--config=/etc/hindsight/router.yaml", "--grpc-addr=:9101", "--admin-addr=:9102", "--log-format=text"},
		Files: []testcontainers.ContainerFile{{
			Reader: strings.NewReader(routerConfig), ContainerFilePath: "/etc/hindsight/router.yaml", FileMode: 0o644,
		}},
		ExposedPorts: []string{"9102/tcp"},
		WaitingFor:   ready("9102/tcp"),
	})
	c.archiver = harness.Start(t, c.nw, []string{"archiver"}, testcontainers.ContainerRequest{
		Image: archiverImg,
		User:  asTestUser(),
		Cmd: []string{"--kafka-brokers=" + c.kafka.NetworkBrokers[0], "--archive-url=file:///archive",
			"--flush-interval=2s", "--flush-size=4194304", "--admin-addr=:9602", "--log-format=text"},
		HostConfigModifier: bind(c.archiveDir + ":/archive"),
		ExposedPorts:       []string{"9602/tcp"},
		WaitingFor:         ready("9602/tcp"),
	})
	c.indexer = harness.Start(t, c.nw, []string{"indexer"}, testcontainers.ContainerRequest{
		Image: indexerImg,
		Cmd: []string{"--kafka-brokers=" + c.kafka.NetworkBrokers[0], "--opensearch-url=" + c.search.NetworkURL,
			"--flush-interval=500ms", "--admin-addr=:9702", "--log-format=text"},
		ExposedPorts: []string{"9702/tcp"},
		WaitingFor:   ready("9702/tcp"),
	})
	c.agent = harness.Start(t, c.nw, []string{"agent"}, testcontainers.ContainerRequest{
		Image: agentImg,
		User:  asTestUser(),
		Cmd: []string{"--harvester-config=/etc/hindsight/harvester.yaml", "--node=node-1", "--docker-watch=false",
			"--admin-addr=:9502", "--log-format=text"},
		Files: []testcontainers.ContainerFile{{
			Reader:            strings.NewReader(fmt.Sprintf(harvesterConfig, maxLineBytes)),
			ContainerFilePath: "/etc/hindsight/harvester.yaml", FileMode: 0o644,
		}},
		HostConfigModifier: bind(c.logsDir+":/logs:ro", stateDir+":/state"),
		ExposedPorts:       []string{"9502/tcp"},
		WaitingFor:         ready("9502/tcp"),
	})
	t.Logf("pipeline up in %s (logs %s, archive %s)", time.Since(began).Round(time.Millisecond), c.logsDir, c.archiveDir)
	return c
}

func ready(port string) wait.Strategy {
	return wait.ForHTTP("/readyz").WithPort(port).WithPollInterval(200 * time.Millisecond).WithStartupTimeout(2 * time.Minute)
}

func bind(binds ...string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) { hc.Binds = append(hc.Binds, binds...) }
}

// kill sends SIGKILL to a service's container and starts it again once it has
// exited, waiting until it is ready.
func kill(t *testing.T, name string, c testcontainers.Container) {
	t.Helper()
	cli, err := harness.Docker()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	if _, err := cli.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
	if err := polltest.Wait(ctx, func() (bool, error) {
		st, err := c.State(ctx)
		return err == nil && !st.Running, err
	}); err != nil {
		t.Fatalf("%s still running after SIGKILL: %v", name, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %s again: %v", name, err)
	}
	t.Logf("%s killed (SIGKILL) and ready again in %s", name, time.Since(began).Round(time.Millisecond))
}

// lag is the sum of the consumer lags of the archiver's and indexer's groups
// (-1 while a group has not committed on every partition).
func (c *cluster) lag(ctx context.Context, groups ...string) (map[string]int64, error) {
	lags, err := c.adm.Lag(ctx, groups...)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			return nil, fmt.Errorf("no lag for group %s", g)
		}
		if err := l.Error(); err != nil {
			return nil, err
		}
		var tot int64
		for _, m := range l.Lag.Sorted() {
			if m.Err != nil {
				return nil, m.Err
			}
			if m.Commit.At < 0 && m.End.Offset > 0 {
				tot = -1
				break
			}
			tot += m.Lag
		}
		out[g] = tot
	}
	return out, nil
}

// concurrently runs fns on their own goroutines with a testing.TB each whose
// Fatal stops only that goroutine; the test fails after all have returned if
// any did. Cleanups registered through them are the test's.
func concurrently(t *testing.T, fns ...func(tb testing.TB)) {
	t.Helper()
	var wg sync.WaitGroup
	tbs := make([]*goroutineTB, len(fns))
	for i, fn := range fns {
		tbs[i] = &goroutineTB{TB: t}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(tbs[i])
		}()
	}
	wg.Wait()
	for _, tb := range tbs {
		if tb.failed != "" {
			t.Fatal(tb.failed)
		}
	}
}

type goroutineTB struct {
	testing.TB
	failed string
}

func (g *goroutineTB) Fatal(args ...any)                 { g.stop(fmt.Sprint(args...)) }
func (g *goroutineTB) Fatalf(format string, args ...any) { g.stop(fmt.Sprintf(format, args...)) }
func (g *goroutineTB) FailNow()                          { g.stop("FailNow") }
func (g *goroutineTB) stop(msg string) {
	g.failed = msg
	runtime.Goexit()
}
