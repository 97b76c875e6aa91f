#!/usr/bin/env bash
# Embedded index bake-off: the candidate engines on the same nginx events in
# the same run (e2e/bench/bakeoff, its own Go module), printed next to the
# issue's targets. Plain `go test` (DuckDB needs cgo, which the project's
# pure/static Bazel build does not allow).
#
#   e2e/bench/index.sh                  # 200 000 events, 30 runs of each query
#   BENCH_EVENTS=1000000 e2e/bench/index.sh
set -euo pipefail
cd "$(dirname "$0")/bakeoff"
events=${BENCH_EVENTS:-200000}
queries=${BENCH_QUERIES:-30}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
CGO_ENABLED=1 go test -run '^$' -bench . -benchtime 1x -timeout 60m \
  -events "$events" -queries "$queries" | tee "$out"
echo
echo "targets: ingest >= 150000 ev/s, search p99 <= 500 ms (term+range+histogram, needle), disk <= 2x the gz archive"
awk -v n="$events" '
  /^BenchmarkBakeoff\// {
    name = $1; sub(/^BenchmarkBakeoff\//, "", name); sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
    printf "%-22s %9.0f ev/s (%s)  disk %6.1f B/ev = %.2fx gz (%s)  trh p99 %7.1f ms (%s)  needle p99 %7.1f ms (%s)  needle found %d\n", name,
      v["ingest-ev/s"], v["ingest-ev/s"] >= 150000 ? "ok" : "MISS",
      v["disk-B/ev"], v["disk/gz-archive"], v["disk/gz-archive"] <= 2 ? "ok" : "MISS",
      v["trh-p99-ms"], v["trh-p99-ms"] <= 500 ? "ok" : "MISS",
      v["needle-p99-ms"], v["needle-p99-ms"] <= 500 ? "ok" : "MISS", v["needles-found"]
  }' "$out"
