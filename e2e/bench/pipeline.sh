#!/usr/bin/env bash
# File → Kafka throughput of Hindsight's agent + router next to rsyslog
# (imfile → omkafka, Debian's rsyslog and rsyslog-kafka) on the same files and
# the same Kafka in the same run, their ratio, and the router's parse
# throughput per core and format (the testing.B benchmarks of internal/parse
# and services/router/ingest, run with -cpu 1). Needs root (Docker, Bazel's
# namespace). A benchmark, not a timed test: it prints figures, it asserts none.
#
#   e2e/bench/pipeline.sh                      # 1 000 000 lines
#   BENCH_LINES=3000000 e2e/bench/pipeline.sh
#   BENCH_ROUTER_FLAGS=--producer-compression=zstd e2e/bench/pipeline.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/e2e/images/build.sh" etcd kafka rsyslog
cd "$root"

echo "== router parse throughput, one core (go test -bench -cpu 1; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for pkg in ./internal/parse ./services/router/ingest; do
  go test -run '^$' -bench 'Parse' -benchtime 2s -cpu 1 -benchmem "$pkg" \
    | awk '/^Benchmark/ {
        name=$1; lps=""; cps=""; mbs=""; al="";
        for (i=2; i<=NF; i++) { if ($(i)=="lines/s") lps=$(i-1); if ($(i)=="lines/cpu-s") cps=$(i-1); if ($(i)=="MB/s") mbs=$(i-1); if ($(i)=="allocs/op") al=$(i-1) }
        printf "BENCH parse %-40s lines/s=%s lines/cpu-s=%s MB/s=%s allocs/op=%s\n", name, lps, cps, mbs, al }'
done

echo "== file -> Kafka: Hindsight agent + router vs rsyslog imfile -> omkafka (${BENCH_LINES:-1000000} lines)"
log=$(mktemp)
set +e
tools/bazel test //e2e/bench/pipeline:pipeline_test --test_output=streamed --nocache_test_results \
  --test_env=BENCH_LINES="${BENCH_LINES:-1000000}" --test_env=BENCH_ROUTER_FLAGS="${BENCH_ROUTER_FLAGS:-}" --test_timeout=3600 >"$log" 2>&1
rc=$?
set -e
grep -E 'BENCH|--- (PASS|FAIL)|ERROR' "$log" | sed 's/^ *pipeline_bench_test.go:[0-9]*: //'
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$rc" = 0 ] || { echo "benchmark failed (exit $rc); full output: $log" >&2; exit "$rc"; }
rm -f "$log"
