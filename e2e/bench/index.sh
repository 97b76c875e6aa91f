#!/usr/bin/env bash
# The embedded index against the issue's targets, in one run on one machine:
#
#  1. the bake-off (e2e/bench/bakeoff, its own Go module): the candidate
#     engines and the shipped one (hindsight-embedded) on the same nginx
#     events: ingest, disk against the gz archive, search p99;
#  2. the embedded engine next to a single-node OpenSearch (the e2e image,
#     hindsight-e2e/opensearch:2, when Docker is up) on the same first
#     BENCH_OS_EVENTS (1 000 000) documents, the embedded one put as the live
#     indexer puts them, OpenSearch loaded through _bulk by the index layer
#     in the indexer's batches: ingest ev/s, the two searches' p50/p99 and
#     disk, each with the ratio embedded / OpenSearch;
#  3. the all-in-one as a user runs it (plain `go build`, fresh data dir):
#     N nginx lines of yesterday dropped into its inbox; when the router had
#     produced them all and when all were searchable (live search, REST),
#     their rates and ratio; term + range + histogram and needle p99 over
#     REST; the live index's disk against the archive's gz files; then a
#     replay of that day into the embedded target: first results, ready.
#
# A benchmark, not a timed test: it prints figures, it asserts none.
# Plain `go test` for the bake-off (DuckDB needs cgo, which the project's
# pure/static Bazel build does not allow).
#
#   e2e/bench/index.sh                               # 200 000 events each
#   BENCH_EVENTS=500000 BENCH_LINES=500000 e2e/bench/index.sh
#   BENCH_SKIP_BAKEOFF=1 BENCH_SKIP_OPENSEARCH=1 e2e/bench/index.sh   # the all-in-one only
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
events=${BENCH_EVENTS:-200000}
lines=${BENCH_LINES:-200000}
queries=${BENCH_QUERIES:-30}
os_events=${BENCH_OS_EVENTS:-1000000}
work=$(mktemp -d)
pid= container=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${BENCH_SKIP_BAKEOFF:-}" ]; then
  echo "== bake-off: $events events per engine, $queries runs of each query"
  out="$work/bakeoff.txt"
  (cd "$here/bakeoff" && CGO_ENABLED=1 go test -run '^$' -bench . -benchtime 1x -timeout 60m \
    -events "$events" -queries "$queries") | tee "$out"
  echo
  echo "targets: ingest >= 150000 ev/s, search p99 <= 500 ms (term+range+histogram, needle), disk <= 2x the gz archive"
  awk '
    /^BenchmarkBakeoff\// {
      name = $1; sub(/^BenchmarkBakeoff\//, "", name); sub(/-[0-9]+$/, "", name)
      for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
      printf "%-22s %9.0f ev/s (%s)  disk %6.1f B/ev = %.2fx gz (%s)  trh p99 %7.1f ms (%s)  needle p99 %7.1f ms (%s)  needle found %d  heap %.0f MiB\n", name,
        v["ingest-ev/s"], v["ingest-ev/s"] >= 150000 ? "ok" : "MISS",
        v["disk-B/ev"], v["disk/gz-archive"], v["disk/gz-archive"] <= 2 ? "ok" : "MISS",
        v["trh-p99-ms"], v["trh-p99-ms"] <= 500 ? "ok" : "MISS",
        v["needle-p99-ms"], v["needle-p99-ms"] <= 500 ? "ok" : "MISS", v["needles-found"], v["heap-MiB"]
    }' "$out"
fi

if [ -z "${BENCH_SKIP_OPENSEARCH:-}" ]; then
  echo
  echo "== embedded next to OpenSearch (single node, hindsight-e2e/opensearch:2): the same first $os_events documents, $queries runs of each query"
  if ! docker info >/dev/null 2>&1; then
    echo "Docker is not up: not run"
  else
    container=$(docker run -d -p 127.0.0.1::9200 hindsight-e2e/opensearch:2)
    port=$(docker port "$container" 9200/tcp | head -1 | sed 's/.*://')
    for _ in $(seq 180); do
      curl -fsS "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1 && break
      sleep 1
    done
    out="$work/side.txt"
    (cd "$here/bakeoff" && go test -run '^$' -bench 'BenchmarkBakeoff/(hindsight-embedded|opensearch)$' -benchtime 1x -timeout 60m \
      -events "$os_events" -queries "$queries" -opensearch "http://127.0.0.1:$port") | tee "$out"
    docker rm -f "$container" >/dev/null
    container=
    echo
    awk '
      /^BenchmarkBakeoff\// {
        name = $1; sub(/^BenchmarkBakeoff\//, "", name); sub(/-[0-9]+$/, "", name)
        for (i = 3; i < NF; i += 2) v[name, $(i+1)] = $i
        seen[name] = 1
      }
      END {
        if (!seen["hindsight-embedded"] || !seen["opensearch"]) { print "side by side incomplete"; exit }
        printf "%-28s %14s %14s %10s\n", "", "embedded", "opensearch", "emb/os"
        n = split("ingest-ev/s trh-p50-ms trh-p99-ms needle-p50-ms needle-p99-ms disk-B/ev hits-500 needles-found", m, " ")
        for (i = 1; i <= n; i++) {
          a = v["hindsight-embedded", m[i]]; b = v["opensearch", m[i]]
          printf "%-28s %14.1f %14.1f %10.2f\n", m[i], a, b, (b > 0 ? a / b : 0)
        }
      }' "$out"
  fi
fi

echo
echo "== all-in-one: $lines nginx lines of yesterday into the inbox"
(cd "$root" && CGO_ENABLED=0 go build -o "$work/allinone" ./services/allinone)
data="$work/data"
day=$(date -u -d yesterday +%Y-%m-%d)
from="${day}T00:00:00Z"
to=$(date -u -d "$day + 1 day" +%Y-%m-%dT00:00:00Z)
# One line a (86400/lines) s over the day; one needle; every 50th a 500.
awk -v n="$lines" -v base="$(date -u -d "$from" +%s)" 'BEGIN {
  split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ")
  np = split("/ /api/users /api/orders /static/app.js /health /api/search /login /api/cart", paths, " ")
  for (i = 0; i < n; i++) {
    t = base + int(i * 86400 / n)
    ts = strftime("%d/", t, 1) mon[strftime("%m", t, 1) + 0] strftime("/%Y:%H:%M:%S +0000", t, 1)
    path = paths[i % np + 1]; if (i == int(n / 2)) path = "/xyzzy7needle"
    status = (i % 50 == 0) ? 500 : (i % 7 == 0 ? 404 : 200)
    printf "10.%d.%d.%d - - [%s] \"GET %s?id=%d HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0 (bench %d)\"\n", i % 200, int(i / 200) % 250, i % 250, ts, path, i, status, 200 + i % 5000, i % 97
  }
}' >"$work/access.log"
freeport() { # a loopback port nothing listens on
  while :; do p=$((20000 + RANDOM % 40000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done
}
http=127.0.0.1:$(freeport)
admin=127.0.0.1:$(freeport)
"$work/allinone" --data-dir="$data" --grpc-addr=127.0.0.1:0 --admin-addr="$admin" --gateway.http-addr="$http" \
  --archiver.flush-interval=1s --log-format=text \
  >"$work/allinone.log" 2>&1 &
pid=$!
for _ in $(seq 120); do curl -fsS "http://$admin/readyz" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "http://$admin/readyz" >/dev/null || { echo "all-in-one not ready"; tail -20 "$work/allinone.log"; exit 1; }

search() { # body -> total
  curl -sS -X POST "http://$http/v1/search" -H 'Content-Type: application/json' -d "$1" | sed -n 's/.*"total":"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p'
}
produced() {
  curl -sS "http://$admin/metrics" | awk '/^hindsight_router_records_produced_total\{topic="logs.nginx.access"\}/ { printf "%d", $2 }'
}
live="{\"datasets\":[\"nginx.access\"],\"from\":\"$from\",\"to\":\"$to\",\"pageSize\":1}"

mkdir -p "$data/inbox/nginx.access"
cp "$work/access.log" "$data/inbox/.access.log.tmp"
t0=$(now)
mv "$data/inbox/.access.log.tmp" "$data/inbox/nginx.access/access.log"
t_router= t_search=
while [ -z "$t_search" ]; do
  if [ -z "$t_router" ] && [ "$(produced)" = "$lines" ]; then t_router=$(now); fi
  n=$(search "$live")
  if [ "$n" = "$lines" ]; then t_search=$(now); [ -n "$t_router" ] || t_router=$t_search; fi
  if [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -gt 3600 ]; then echo "not all searchable after an hour ($n)"; exit 1; fi
  sleep 0.5
done
rs=$(secs "$t0" "$t_router"); ss=$(secs "$t0" "$t_search")
r_router=$(rate "$lines" "$rs"); r_search=$(rate "$lines" "$ss")
echo "router produced all $lines in ${rs}s: $r_router ev/s"
echo "all searchable in ${ss}s: $r_search ev/s (target >= 50000: $(awk -v r="$r_search" 'BEGIN{print (r >= 50000 ? "ok" : "MISS")}'))"
echo "searchable / router produced rate: $(awk -v a="$r_search" -v b="$r_router" 'BEGIN{printf "%.2f", a/b}') (target >= 0.9)"

p99() { sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", v[i] * 1000 }'; }
for _ in $(seq "$queries"); do
  curl -sS -o /dev/null -w '%{time_total}\n' -X POST "http://$http/v1/search" -H 'Content-Type: application/json' \
    -d "{\"query\":\"http.response.status_code:500\",\"datasets\":[\"nginx.access\"],\"from\":\"${day}T06:00:00Z\",\"to\":\"${day}T18:00:00Z\",\"pageSize\":50,\"histogramInterval\":\"720s\"}"
done | p99 >"$work/trh"
for _ in $(seq "$queries"); do
  curl -sS -o /dev/null -w '%{time_total}\n' -X POST "http://$http/v1/search" -H 'Content-Type: application/json' \
    -d "{\"query\":\"xyzzy7needle\",\"datasets\":[\"nginx.access\"],\"from\":\"$from\",\"to\":\"$to\",\"pageSize\":50}"
done | p99 >"$work/needle"
needles=$(search "{\"query\":\"xyzzy7needle\",\"from\":\"$from\",\"to\":\"$to\",\"pageSize\":1}")
echo "live search over $lines: term+range+histogram p99 $(cat "$work/trh") ms, needle p99 $(cat "$work/needle") ms (found $needles; target <= 500 ms each, REST round trip)"

sleep 3 # the archiver's last flush
gz=$(find "$data/archive" -path '*nginx.access*' -name '*.gz' -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
ix=$(du -sb "$data/live" | cut -f1)
echo "live index disk $ix B = $(awk -v a="$ix" -v b="$gz" 'BEGIN{printf "%.2f", a/b}')x the gz archive's $gz B (target <= 2x)"

replay="{\"name\":\"bench\",\"datasets\":[\"nginx.access\"],\"from\":\"$from\",\"to\":\"$to\"}"
t0=$(now)
curl -fsS -X POST "http://$http/v1/replays" -H 'Content-Type: application/json' -d "$replay" >/dev/null
t_first= t_ready=
while [ -z "$t_ready" ]; do
  n=$(search "{\"replay\":\"bench\",\"pageSize\":1}")
  if [ -z "$t_first" ] && [ -n "$n" ] && [ "$n" != 0 ]; then t_first=$(now); fi
  state=$(curl -sS "http://$http/v1/replays/bench" | sed -n 's/.*"state":"\([A-Z_]*\)".*/\1/p')
  case "$state" in
  STATE_READY) t_ready=$(now) ;;
  STATE_FAILED) echo "replay failed"; curl -sS "http://$http/v1/replays/bench"; exit 1 ;;
  esac
  sleep 0.2
done
n=$(search "{\"replay\":\"bench\",\"pageSize\":1}")
echo "replay of $n events into embedded: first results $(secs "$t0" "${t_first:-$t_ready}")s (target <= 2 s), ready $(secs "$t0" "$t_ready")s = $(rate "$n" "$(secs "$t0" "$t_ready")") ev/s (target >= 150000 ev/s)"
