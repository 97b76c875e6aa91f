#!/usr/bin/env bash
# Agent overhead: runs the topology demo (frontend → api → Redis + PostgreSQL) as fast
# as the load generator can drive it, with the agent capturing its traffic, and
# reports the agent's CPU as a share of the demo's own (TestCaptureOverhead in
# e2e/topology). Also runs the capture+decode micro-benchmark (one core).
#   e2e/bench/topology.sh
set -euo pipefail
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ws"
"$ws/tools/setup/docker.sh"
"$ws/e2e/images/build.sh" redis postgres
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$ws/tools/bazel" test //e2e/topology:topology_test --test_env=HINDSIGHT_BENCH=1 \
  --test_filter=TestCaptureOverhead --nocache_test_results --test_output=streamed >"$log" 2>&1 \
  || { tail -n 60 "$log"; exit 1; }
grep -E "generator:|CPU \(cores\)|agent overhead|--- (PASS|FAIL)" "$log" | sed 's/^ *//'
"$ws/tools/bazel" run //services/agent/capture:capture_test -- \
  -test.run '^$' -test.bench BenchmarkCaptureDecode -test.benchtime 3s -test.cpu 1 2>/dev/null | grep -E "^Benchmark"
