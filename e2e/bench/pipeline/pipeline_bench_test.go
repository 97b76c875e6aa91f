// Benchmark, not a timed test: file → Kafka throughput of Hindsight's agent
// (harvester) + router next to rsyslog (imfile → omkafka, Debian's packages) on
// the same files, the same Kafka and the same machine, in the same run. Run
// it with e2e/bench/pipeline.sh, which also prints the router's parse
// throughput per core (go test -bench). Besides events/s it prints where the
// time went: when the first record arrived, the CPU each container used
// (from its cgroup), the router's mean produce latency and the peak of its
// in-flight gauges; BENCH_ROUTER_FLAGS adds flags to the router's command
// line (e.g. --producer-compression=zstd) to compare settings.
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
	"io"
	"net/http"
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

// waitRecords polls the topics' end offsets until they sum to want, and
// says how long the first record took (the shipper's start).
func waitRecords(t *testing.T, adm *kadm.Client, topics []string, want int64, began time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	last, lastChange := int64(-1), time.Now()
	var first time.Duration
	for {
		ends, err := adm.ListEndOffsets(context.Background(), topics...)
		var n int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		}
		if n > 0 && first == 0 {
			first = time.Since(began)
		}
		if n >= want {
			took := time.Since(began)
			t.Logf("BENCH %v: first record after %.2fs, all %d after %.2fs: %.0f events/s in between",
				topics, first.Seconds(), want, took.Seconds(), float64(want)/(took-first).Seconds())
			return took
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
	router := harness.Start(t, nw, []string{"router"}, testcontainers.ContainerRequest{
		Image: routerImg,
		Env:   harness.AuthEnv(),
		Cmd: append([]string{"--kafka-brokers=kafka:9092", "--etcd-endpoints=etcd:2379", "--config=/etc/hindsight/router.yaml",
			"--grpc-addr=:9101", "--admin-addr=:9102", "--log-format=text"}, strings.Fields(os.Getenv("BENCH_ROUTER_FLAGS"))...),
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
		routerAdmin := endpoint(t, router, "9102/tcp")
		hc := harness.HTTPClient(t)
		sampler := sample(hc, routerAdmin)
		kafkaCPU, routerCPU := cpuSeconds(k.Container), cpuSeconds(router)
		began := time.Now()
		agent := harness.Start(t, nw, []string{"agent"}, testcontainers.ContainerRequest{
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
		peak := sampler()
		rm := scrape(hc, routerAdmin)
		lat, count := rm["hindsight_router_produce_latency_seconds_sum"], rm["hindsight_router_produce_latency_seconds_count"]
		t.Logf("BENCH where hindsight's time went: wall=%.2fs cpu: router=%.2fs agent=%.2fs kafka=%.2fs; produce latency mean=%.1fms (%.0f records); peak in flight: records=%.0f batches=%.0f",
			took.Seconds(), cpuSeconds(router)-routerCPU, cpuSeconds(agent), cpuSeconds(k.Container)-kafkaCPU,
			1000*lat/max(count, 1), count, peak.records, peak.batches)
		var batches float64
		for series, v := range rm {
			if strings.HasPrefix(series, "hindsight_router_batches_received_total") {
				batches += v
			}
		}
		t.Logf("BENCH agent batches=%.0f lines/batch=%.0f", batches, float64(n)/max(batches, 1))
	}

	// rsyslog: imfile → omkafka → rsyslog.bench.
	{
		dir := harness.HostDir(t, "rsyslog-logs")
		n, size := writeWorkload(t, dir, lines)
		kafkaCPU := cpuSeconds(k.Container)
		began := time.Now()
		rsyslog := harness.Start(t, nw, []string{"rsyslog"}, testcontainers.ContainerRequest{
			Image: RsyslogImage,
			Files: []testcontainers.ContainerFile{{Reader: strings.NewReader(rsyslogConfig), ContainerFilePath: "/etc/rsyslog.d/bench.conf", FileMode: 0o644}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.Binds = append(hc.Binds, dir+":/logs:ro")
			},
		})
		took := waitRecords(t, adm, []string{"rsyslog.bench"}, int64(n), began)
		t.Logf("BENCH where rsyslog's time went: wall=%.2fs cpu: rsyslog=%.2fs kafka=%.2fs", took.Seconds(), cpuSeconds(rsyslog), cpuSeconds(k.Container)-kafkaCPU)
		results = append(results, result{name: "rsyslog imfile+omkafka", took: took, lines: n, bytes: size})
	}

	for _, r := range results {
		t.Logf("BENCH file->kafka %-24s lines=%d bytes=%d seconds=%.2f events/s=%.0f MB/s=%.2f",
			r.name, r.lines, r.bytes, r.took.Seconds(), r.eps(), r.mbps())
	}
	h, r := results[0], results[1]
	t.Logf("BENCH ratio hindsight/rsyslog events/s=%.2f MB/s=%.2f", h.eps()/r.eps(), h.mbps()/r.mbps())
}

type inFlight struct{ records, batches float64 }

// sample polls the router's in-flight gauges until the returned function is
// called, which gives their peaks.
func sample(hc *http.Client, base string) func() inFlight {
	stop, done := make(chan struct{}), make(chan inFlight)
	go func() {
		var peak inFlight
		for {
			m := scrape(hc, base)
			peak.records = max(peak.records, m["hindsight_router_inflight_records"])
			peak.batches = max(peak.batches, m["hindsight_router_inflight_batches"])
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() inFlight { close(stop); return <-done }
}

// scrape reads a service's /metrics into series → value (none on failure:
// the figures are informative, the run's result stands without them).
func scrape(hc *http.Client, base string) map[string]float64 {
	m := map[string]float64{}
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			m[l[:i]] = v
		}
	}
	return m
}

// cpuSeconds is the CPU time a container has used so far, from its cgroup
// (v1 cpuacct, as Docker's cgroupfs driver lays it out; then v2), or -1
// where neither is readable.
func cpuSeconds(c testcontainers.Container) float64 {
	id := c.GetContainerID()
	if b, err := os.ReadFile("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage"); err == nil {
		if ns, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
			return ns / 1e9
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/docker/" + id, "/sys/fs/cgroup/system.slice/docker-" + id + ".scope"} {
		b, err := os.ReadFile(p + "/cpu.stat")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
				us, _ := strconv.ParseFloat(v, 64)
				return us / 1e6
			}
		}
	}
	return -1
}

func endpoint(t *testing.T, c testcontainers.Container, port string) string {
	t.Helper()
	ep, err := c.PortEndpoint(context.Background(), port, "http")
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func ptr[T any](v T) *T { return &v }
