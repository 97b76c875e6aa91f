#!/usr/bin/env bash
# Failure-to-config latency of Hindsight's membership next to serf's failure
# detection, on the same killed members in the same run: prints both
# distributions and their ratio. Needs root (Docker, Bazel's namespace).
#
#   e2e/bench/membership_failover.sh            # 20 kills
#   BENCH_TRIALS=50 e2e/bench/membership_failover.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/e2e/images/build.sh" etcd haproxy serf
cd "$root"
log=$(mktemp)
set +e
tools/bazel test //e2e/bench:bench_test --test_output=streamed --nocache_test_results \
  --test_env=BENCH_TRIALS="${BENCH_TRIALS:-20}" --test_timeout=3600 >"$log" 2>&1
rc=$?
grep -E 'BENCH|trial|_ms=|--- (PASS|FAIL)|ERROR' "$log"
[ "$rc" = 0 ] || { echo "benchmark failed (exit $rc); full output: $log" >&2; exit "$rc"; }
rm -f "$log"
