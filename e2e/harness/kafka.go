package harness

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// KafkaImage is Apache Kafka in KRaft mode, built by e2e/images/build.sh.
const KafkaImage = "hindsight-e2e/kafka:4"

// KafkaAlias is Kafka's name on a test network.
const KafkaAlias = "kafka"

// kafkaReady is what the broker logs once it serves clients (KRaft, broker unfenced).
const kafkaReady = "Kafka Server started"

// Kafka is a single-node Kafka (broker and controller in one process, KRaft) started
// for one test.
//
// It has two client listeners. The test process uses Brokers: a loopback port
// reserved for this broker, which the broker also advertises, so clients on the host
// keep working after Stop and Start. Containers on the test network use
// NetworkBrokers (kafka:9092), which the broker advertises on that listener. Topics
// are not created automatically (auto.create.topics.enable=false); internal topics
// have one replica and min.insync.replicas is 1, so acks=all works.
type Kafka struct {
	Container testcontainers.Container
	// Brokers are the seed brokers for the test process (127.0.0.1:<port>), the same
	// across Stop and Start.
	Brokers []string
	// NetworkBrokers are the seed brokers for containers on the test's network
	// (kafka:9092), nil when Kafka was started without a network.
	NetworkBrokers []string

	starts atomic.Int32 // how many times the container was started
}

// KafkaOption changes how StartKafka starts the broker.
type KafkaOption func(env map[string]string)

// KafkaConfig sets a broker setting, e.g. KafkaConfig("log.retention.check.interval.ms", "1000").
func KafkaConfig(name, value string) KafkaOption {
	return func(env map[string]string) {
		env["KAFKA_CFG_"+strings.ToUpper(strings.ReplaceAll(name, ".", "_"))] = value
	}
}

// StartKafka starts Kafka (hindsight-e2e/kafka:4) for this test and waits until the
// broker serves clients. With nw non-nil it joins that network as "kafka". It is
// terminated when the test ends; its data (under /var/lib/kafka, a volume) survives
// Stop and Start.
func StartKafka(t testing.TB, nw *testcontainers.DockerNetwork, opts ...KafkaOption) *Kafka {
	t.Helper()
	k := &Kafka{}
	var aliases []string
	if nw != nil {
		aliases = []string{KafkaAlias}
		k.NetworkBrokers = []string{KafkaAlias + ":9092"}
	}
	began := time.Now()
	k.starts.Store(1)
	c, port := startOnFixedPort(t, nw, aliases, "19092/tcp", func(port int) testcontainers.ContainerRequest {
		env := map[string]string{
			"KAFKA_ADVERTISED_HOST": "127.0.0.1",
			"KAFKA_ADVERTISED_PORT": strconv.Itoa(port),
		}
		if nw != nil {
			env["KAFKA_NETWORK_HOST"] = KafkaAlias
		}
		for _, o := range opts {
			o(env)
		}
		return testcontainers.ContainerRequest{
			Image:        KafkaImage,
			ExposedPorts: []string{"19092/tcp"},
			Env:          env,
			WaitingFor:   logCount{marker: kafkaReady, want: func() int { return int(k.starts.Load()) }},
		}
	})
	k.Container = c
	k.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	t.Logf("kafka ready in %s at %s (network: %v)", time.Since(began).Round(time.Millisecond), k.Brokers[0], k.NetworkBrokers)
	return k
}

// Stop stops the broker gracefully (SIGTERM; killed after 30 s), keeping its data.
func (k *Kafka) Stop(t testing.TB) {
	t.Helper()
	stopContainer(t, k.Container, "kafka")
}

// Start starts a stopped broker again and waits until it serves clients, at the same
// addresses.
func (k *Kafka) Start(t testing.TB) {
	t.Helper()
	k.starts.Add(1)
	startContainer(t, k.Container, "kafka")
}

func stopContainer(t testing.TB, c testcontainers.Container, name string) {
	t.Helper()
	began := time.Now()
	timeout := 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	if err := c.Stop(ctx, &timeout); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	t.Logf("%s stopped in %s", name, time.Since(began).Round(time.Millisecond))
}

func startContainer(t testing.TB, c testcontainers.Container, name string) {
	t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout+time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %s again: %v", name, err)
	}
	t.Logf("%s ready again in %s", name, time.Since(began).Round(time.Millisecond))
}
