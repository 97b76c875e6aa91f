// Benchmark, not a timed test: file → Kafka throughput of Hindsight's agent
// (harvester) + router next to rsyslog (imfile → omkafka, Debian's packages) on
// the same files, the same Kafka and the same machine, in the same run. Run
// it with e2e/bench/pipeline.sh, which also prints the router's parse
// throughput per core (go test -bench).
//
// The workload: BENCH_LINES lines (default 1 000 000) in three files, a third
// each of nginx combined, JSON application logs and RFC 5424 syslog, written
// before the shipper starts. Each shipper gets its own copy of the files and
// its own topics with the same settings (2 partitions, compression as the
// producer sent it, acks=all); the clock runs from the shipper's container
// start until Kafka's end offsets hold every line. Hindsight parses every line
// into an ECS JSON document; rsyslog forwards the raw line (its usual setup).
package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hindsight-dev/hindsight/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// RsyslogImage is built by `e2e/images/build.sh rsyslog`.
const RsyslogImage = "hindsight-e2e/rsyslog:8"

var formats = []string{"nginx.access", "app", "syslog"}

const routerConfig = `
defaults:
  topic: {partitions: 2, replication_factor: 1, retention: 1d, compression: producer}
datasets:
  - name: nginx.access
    parser: {format: combined}
  - name: app
    parser: {format: json}
  - name: syslog
    parser: {format: rfc5424}
`

const harvesterConfig = `
host: bench
registry: /state/registry.json
routers: ["router:9101"]
registry_flush: 1s
batch: {max_lines: 2000, linger: 50ms}
window: 8
inputs:
  - {dataset: nginx.access, paths: ["/logs/nginx.access.log"], scan_interval: 1s}
  - {dataset: app, paths: ["/logs/app.log"], scan_interval: 1s}
  - {dataset: syslog, paths: ["/logs/syslog.log"], scan_interval: 1s}
`

// rsyslogConfig: one imfile input per file, each line to the rsyslog topic
// with acks=all as the router produces; batching like the router's linger.
const rsyslogConfig = `
template(name="line" type="string" string="%msg%")
input(type="imfile" file="/logs/nginx.access.log" tag="nginx" ruleset="kafka")
input(type="imfile" file="/logs/app.log" tag="app" ruleset="kafka")
input(type="imfile" file="/logs/syslog.log" tag="syslog" ruleset="kafka")
ruleset(name="kafka" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="2048") {
  action(type="omkafka" broker=["kafka:9092"] topic="rsyslog.bench" template="line" partitions.auto="on"
         confParam=["request.required.acks=-1", "queue.buffering.max.ms=10", "batch.num.messages=10000",
                    "queue.buffering.max.messages=500000"])
}
`

func line(ds string, n int, t time.Time) string {
	switch ds {
	case "nginx.access":
		return fmt.Sprintf(`10.%d.%d.%d - - [%s] "GET /items/%d?page=%d HTTP/1.1" %d %d "https://example.test/list" "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"`,
			n%200, (n/200)%250, n%250+1, t.Format("02/Jan/2006:15:04:05 -0700"), n, n%17, 200+n%5, 100+n%9000)
	case "app":
		return fmt.Sprintf(`{"time":%q,"level":"info","message":"order %d processed","user":"u%d","amount":%d,"trace_id":"%016x"}`,
			t.Format(time.RFC3339Nano), n, n%1000, n%777, n*7919)
	}
	return fmt.Sprintf(`<165>1 %s web-%d app %d ID%d - user %d logged in from 10.0.%d.%d`,
		t.Format("2006-01-02T15:04:05.000000Z07:00"), n%4, 1000+n%50, n%100, n, n%250, n%200)
}

// writeWorkload writes the three files into dir and returns lines and bytes.
func writeWorkload(t *testing.T, dir string, lines int) (int, int64) {
	t.Helper()
	base := time.Now().UTC().Add(-24 * time.Hour)
	var total int64
	for i, ds := range formats {
		f, err := os.Create(filepath.Join(dir, ds+".log"))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for n := i; n < lines; n += len(formats) {
			l := line(ds, n, base.Add(time.Duration(n)*time.Millisecond))
			w.WriteString(l)
			w.WriteByte('\n')
			total += int64(len(l) + 1)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return lines, total
}

type result struct {
	name   string
	took   time.Duration
	lines  int
	bytes  int64
	events int64
}

func (r result) eps() float64 { return float64(r.lines) / r.took.Seconds() }
func (r result) mbps() float64 {
	return float64(r.bytes) / (1 << 20) / r.took.Seconds()
}

// waitRecords polls the topics' end offsets until they sum to want.
func waitRecords(t *testing.T, adm *kadm.Client, topics []string, want int64, began time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	last, lastChange := int64(-1), time.Now()
	for {
		ends, err := adm.ListEndOffsets(context.Background(), topics...)
		var n int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		}
		if n >= want {
			return time.Since(began)
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastChange) > 90*time.Second {
			t.Fatalf("only %d of %d records in %v after %s", n, want, topics, time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPipelineThroughput(t *testing.T) {
	lines := 1_000_000
	if s := os.Getenv("BENCH_LINES"); s != "" {
		var err error
		if lines, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	harness.RequireImage(t, RsyslogImage)
	nw := harness.Network(t)
	// By image id, not tag: other suites running meanwhile load their own
	// builds under the same tags.
	harness.LoadImage(t, "images/router_image.tar")
	harness.LoadImage(t, "images/agent_image.tar")
	routerImg := harness.ImageID(t, "images/router_image.tar")
	agentImg := harness.ImageID(t, "images/agent_image.tar")
	k := harness.StartKafka(t, nw, harness.KafkaConfig("num.partitions", "2"))
	harness.StartEtcd(t, nw)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)
	if _, err := adm.CreateTopic(context.Background(), 2, 1, map[string]*string{"compression.type": ptr("producer")}, "rsyslog.bench"); err != nil {
		t.Fatal(err)
	}
	// Started by image id, they get the suite's tokens through the
	// environment (authentication on, as by default).
	harness.Start(t, nw, []string{"router"}, testcontainers.ContainerRequest{
		Image: routerImg,
		Env:   harness.AuthEnv(),
		Cmd: []string{"--kafka-brokers=kafka:9092", "--etcd-endpoints=etcd:2379", "--config=/etc/hindsight/router.yaml",
			"--grpc-addr=:9101", "--admin-addr=:9102", "--log-format=text"},
		Files:        []testcontainers.ContainerFile{{Reader: strings.NewReader(routerConfig), ContainerFilePath: "/etc/hindsight/router.yaml", FileMode: 0o644}},
		ExposedPorts: []string{"9102/tcp"},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("9102/tcp").WithStartupTimeout(2 * time.Minute),
	})
	user := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())

	var results []result

	// Hindsight: agent (harvester) → router → logs.<dataset>.
	{
		dir := harness.HostDir(t, "hindsight-logs")
		state := harness.HostDir(t, "state")
		n, size := writeWorkload(t, dir, lines)
		topics := []string{"logs.nginx.access", "logs.app", "logs.syslog"}
		began := time.Now()
		harness.Start(t, nw, []string{"agent"}, testcontainers.ContainerRequest{
			Image: agentImg,
			Env:   harness.AuthEnv(),
			User:  user,
			Cmd: []string{"--harvester-config=/etc/hindsight/harvester.yaml", "--docker-watch=false",
				"--grpc-addr=:9501", "--admin-addr=:9502", "--log-format=text"},
			Files: []testcontainers.ContainerFile{{Reader: strings.NewReader(harvesterConfig), ContainerFilePath: "/etc/hindsight/harvester.yaml", FileMode: 0o644}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.Binds = append(hc.Binds, dir+":/logs:ro", state+":/state")
			},
		})
		took := waitRecords(t, adm, topics, int64(n), began)
		results = append(results, result{name: "hindsight agent+router", took: took, lines: n, bytes: size})
	}

	// rsyslog: imfile → omkafka → rsyslog.bench.
	{
		dir := harness.HostDir(t, "rsyslog-logs")
		n, size := writeWorkload(t, dir, lines)
		began := time.Now()
		harness.Start(t, nw, []string{"rsyslog"}, testcontainers.ContainerRequest{
			Image: RsyslogImage,
			Files: []testcontainers.ContainerFile{{Reader: strings.NewReader(rsyslogConfig), ContainerFilePath: "/etc/rsyslog.d/bench.conf", FileMode: 0o644}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.Binds = append(hc.Binds, dir+":/logs:ro")
			},
		})
		took := waitRecords(t, adm, []string{"rsyslog.bench"}, int64(n), began)
		results = append(results, result{name: "rsyslog imfile+omkafka", took: took, lines: n, bytes: size})
	}

	for _, r := range results {
		t.Logf("BENCH file->kafka %-24s lines=%d bytes=%d seconds=%.2f events/s=%.0f MB/s=%.2f",
			r.name, r.lines, r.bytes, r.took.Seconds(), r.eps(), r.mbps())
	}
	h, r := results[0], results[1]
	t.Logf("BENCH ratio hindsight/rsyslog events/s=%.2f MB/s=%.2f", h.eps()/r.eps(), h.mbps()/r.mbps())
}

func ptr[T any](v T) *T { return &v }
