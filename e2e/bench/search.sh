#!/usr/bin/env bash
# The searches the /search page issues over 10 000 000 nginx access events
# of one day in the embedded engine, next to the same searches over the
# first 1 000 000 of them in a single-node OpenSearch (the e2e image,
# started by the benchmark), in one run: p50/p99 per search, this process's
# CPU per search, and the ratios embedded / OpenSearch. See
# e2e/bench/search/search_test.go and e2e/bench/README.md.
#
# A benchmark, not a timed test: it prints figures, it asserts none.
#
#   e2e/bench/search.sh                                  # 10 M events, 30 runs each
#   BENCH_EVENTS=1000000 BENCH_OS_EVENTS=0 e2e/bench/search.sh   # embedded only
#   BENCH_DIR=/var/tmp/ix e2e/bench/search.sh            # keep (and reuse) the loaded index
#   BENCH_PROFILE=cpu.out e2e/bench/search.sh            # a CPU profile (go tool pprof -top)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
events=${BENCH_EVENTS:-10000000}
os_events=${BENCH_OS_EVENTS:-1000000}
runs=${BENCH_RUNS:-30}
args=(-test.run '^$' -test.bench . -test.benchtime 1x -test.timeout 4h
  -events "$events" -opensearch-events "$os_events" -runs "$runs")
[ -n "${BENCH_DIR:-}" ] && args+=(-dir "$BENCH_DIR")
[ -n "${BENCH_ONLY:-}" ] && args+=(-only "$BENCH_ONLY")
[ -n "${BENCH_PROFILE:-}" ] && args+=(-test.cpuprofile "$(readlink -f "$BENCH_PROFILE")")
if [ "$os_events" != 0 ]; then
  "$root/e2e/images/build.sh" opensearch
fi
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
bin=$(mktemp -d)/search.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
# Plain go test, as the bake-off: the pure-Go build (CGO_ENABLED=0) is what
# the static Bazel binaries ship, so the engine's zstd is the Go one here too.
(cd "$root" && CGO_ENABLED=0 go test -c -o "$bin" ./e2e/bench/search)
(cd "$here/search" && "$bin" "${args[@]}")
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
