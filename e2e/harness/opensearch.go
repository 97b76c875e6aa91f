package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// OpenSearchImage is OpenSearch 2 (its integ-test distribution: no plugins, so no
// security plugin; plain HTTP, no authentication), built by e2e/images/build.sh.
const OpenSearchImage = "hindsight-e2e/opensearch:2"

// OpenSearchAlias is OpenSearch's name on a test network.
const OpenSearchAlias = "opensearch"

// OpenSearch is a single-node OpenSearch started for one test. Indices get one
// replica by default, which a single node never assigns: cluster health is yellow
// once indices exist.
type OpenSearch struct {
	Container testcontainers.Container
	// URL is the HTTP endpoint for the test process (http://127.0.0.1:<port>), a
	// loopback port reserved for this node, the same across Stop and Start.
	URL string
	// NetworkURL is the HTTP endpoint for containers on the test's network
	// (http://opensearch:9200), empty when OpenSearch was started without a network.
	NetworkURL string
}

// OpenSearchOption changes how StartOpenSearch starts the node.
type OpenSearchOption func(req *testcontainers.ContainerRequest)

// OpenSearchSetting sets a node setting (opensearch -E name=value).
func OpenSearchSetting(name, value string) OpenSearchOption {
	return func(req *testcontainers.ContainerRequest) {
		req.Cmd = append(req.Cmd, "-E", name+"="+value)
	}
}

// StartOpenSearch starts OpenSearch (hindsight-e2e/opensearch:2) for this test and
// waits until the cluster is at least yellow. With nw non-nil it joins that network
// as "opensearch". It is terminated when the test ends; its data (under
// /var/lib/opensearch, a volume) survives Stop and Start.
func StartOpenSearch(t testing.TB, nw *testcontainers.DockerNetwork, opts ...OpenSearchOption) *OpenSearch {
	t.Helper()
	o := &OpenSearch{}
	var aliases []string
	if nw != nil {
		aliases = []string{OpenSearchAlias}
		o.NetworkURL = "http://" + OpenSearchAlias + ":9200"
	}
	began := time.Now()
	c, port := startOnFixedPort(t, nw, aliases, "9200/tcp", func(int) testcontainers.ContainerRequest {
		req := testcontainers.ContainerRequest{
			Image:        OpenSearchImage,
			ExposedPorts: []string{"9200/tcp"},
			// Yellow: every primary shard is assigned (after a restart, recovered).
			WaitingFor: wait.ForHTTP("/_cluster/health?wait_for_status=yellow&timeout=1s").
				WithPort("9200/tcp").
				WithStatusCodeMatcher(func(status int) bool { return status == 200 }).
				WithPollInterval(500 * time.Millisecond).
				WithStartupTimeout(startupTimeout),
		}
		for _, opt := range opts {
			opt(&req)
		}
		return req
	})
	o.Container = c
	o.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Logf("opensearch ready in %s at %s (network: %q)", time.Since(began).Round(time.Millisecond), o.URL, o.NetworkURL)
	return o
}

// Stop stops the node gracefully (SIGTERM; killed after 30 s), keeping its data.
func (o *OpenSearch) Stop(t testing.TB) {
	t.Helper()
	stopContainer(t, o.Container, "opensearch")
}

// Start starts a stopped node again and waits until its cluster is at least yellow,
// at the same addresses.
func (o *OpenSearch) Start(t testing.TB) {
	t.Helper()
	startContainer(t, o.Container, "opensearch")
}
