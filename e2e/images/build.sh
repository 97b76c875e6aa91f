#!/usr/bin/env bash
# Builds the third-party images the e2e suites run (etcd, HAProxy, ...) from Debian
# packages, with nothing pulled from a registry:
#
#   hindsight-e2e/debian-base:bookworm   debootstrap --variant=minbase, `docker import`ed
#   hindsight-e2e/<name>:<tag>           FROM that base, Debian packages installed from
#                                        .debs downloaded on the host (the build itself
#                                        runs with --network none)
#
# Usage: e2e/images/build.sh [NAME...|all]   (no NAME or all: every image; --list: the names)
#
# Idempotent: every image carries a label with a hash of this script and of its parent
# image, and is rebuilt only when that label differs (so editing this script rebuilds).
# Caches (the base root fs tarball, downloaded .debs) live under $HINDSIGHT_CACHE/e2e.
#
# To add an image: write image_<name> (setting tag, parent, packages, dockerfile) and,
# if it needs more than .debs (e.g. jars from Maven Central), context_<name> CTX_DIR to
# put extra files into the build context.
source "$(dirname "$0")/../../tools/setup/common.sh"

SCRIPT=$(readlink -f "$0")
SCRIPT_HASH=$(sha256sum "$SCRIPT" | cut -c1-16)
E2E_CACHE=$CACHE/e2e
LABEL=org.hindsight.e2e.build
SUITE=bookworm
BASE_TAG=hindsight-e2e/debian-base:$SUITE
BASE_ROOT=$E2E_CACHE/debian-$SUITE-root     # the base root fs, used to resolve packages
BASE_TAR=$E2E_CACHE/debian-$SUITE-minbase.tar
SECURITY_MIRROR=${HINDSIGHT_DEBIAN_SECURITY_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian-security\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}

# ---------------------------------------------------------------------------------
# Image definitions. Each sets: tag, parent ("base" or another image's name),
# packages (Debian packages to install) and dockerfile (the lines after FROM/COPY).

image_etcd() {
  tag=hindsight-e2e/etcd:3
  parent=base
  packages="etcd-server"
  # Defaults through etcd's own ETCD_* variables so a container can override any of
  # them with -e. The client URL it advertises is the container's address unless
  # ETCD_ADVERTISE_CLIENT_URLS is given (e.g. http://<network alias>:2379). A single
  # member: the peer port listens on loopback only.
  dockerfile=$(cat <<'EOF'
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
      ': "${ETCD_ADVERTISE_CLIENT_URLS:=http://$(hostname -i | cut -d" " -f1):2379}"' \
      'export ETCD_ADVERTISE_CLIENT_URLS' 'exec /usr/bin/etcd "$@"' >/usr/local/bin/etcd-entrypoint \
 && chmod 0755 /usr/local/bin/etcd-entrypoint \
 && mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd
ENV ETCD_NAME=etcd \
    ETCD_DATA_DIR=/var/lib/etcd \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_LISTEN_PEER_URLS=http://localhost:2380 \
    ETCD_INITIAL_ADVERTISE_PEER_URLS=http://localhost:2380 \
    ETCD_INITIAL_CLUSTER=etcd=http://localhost:2380
USER etcd
VOLUME /var/lib/etcd
EXPOSE 2379
ENTRYPOINT ["/usr/local/bin/etcd-entrypoint"]
EOF
)
}

image_haproxy() {
  tag=hindsight-e2e/haproxy:2
  parent=base
  packages="haproxy"
  # Master-worker mode in the foreground: SIGUSR2 reloads the configuration,
  # SIGUSR1 stops gracefully. Mount a config at /usr/local/etc/haproxy/haproxy.cfg
  # (Debian's default one is copied there).
  dockerfile=$(cat <<'EOF'
RUN mkdir -p /usr/local/etc/haproxy /run/haproxy \
 && cp /etc/haproxy/haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
STOPSIGNAL SIGUSR1
EXPOSE 80
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
)
}

image_serf() {
  tag=hindsight-e2e/serf:0
  parent=base
  packages="serf"
  # HashiCorp's serf (gossip membership and failure detection), Debian's build. The
  # e2e benchmark compares its member-failed detection with Hindsight's membership;
  # it adds its own binaries and handlers on top of this image.
  dockerfile=$(cat <<'EOF'
EXPOSE 7946
ENTRYPOINT ["/usr/bin/serf"]
CMD ["agent"]
EOF
)
}

# A JRE from Debian's packages, the parent of the Java engines below. JAVA_HOME is a
# stable path whatever the architecture.
image_jre() {
  tag=hindsight-e2e/jre:17
  parent=base
  packages="openjdk-17-jre-headless"
  dockerfile=$(cat <<'EOF'
RUN ln -sfn "$(dirname "$(dirname "$(readlink -f /usr/bin/java)")")" /usr/lib/jvm/default-java \
 && java -version
ENV JAVA_HOME=/usr/lib/jvm/default-java
EOF
)
}

# Apache Kafka, KRaft combined mode (broker + controller, node 1), from the broker's
# jars on Maven Central (resolved on the host by mvn, cached; see context_kafka).
# Two client listeners:
#   NETWORK  :9092   for containers on a test network, advertised as
#                    $KAFKA_NETWORK_HOST:9092 (default: the container's hostname;
#                    the harness sets its network alias, "kafka")
#   HOST     :19092  for the test process through a published port, advertised as
#                    $KAFKA_ADVERTISED_HOST:$KAFKA_ADVERTISED_PORT (default
#                    localhost:19092; the harness publishes 19092 on a fixed loopback
#                    port it chose, so the address stays valid across stop/start)
# and CONTROLLER on 127.0.0.1:9093. Storage is formatted once (fixed cluster id) under
# /var/lib/kafka/data, a volume, so a stopped and restarted container keeps its data.
# Any broker setting can be overridden with KAFKA_CFG_<NAME> (dots as underscores,
# e.g. KAFKA_CFG_LOG_RETENTION_CHECK_INTERVAL_MS=1000); heap with KAFKA_HEAP_OPTS.
# Kafka's command-line tools (kafka-tools, without Connect) are on the class path too:
#   /opt/kafka/bin/kafka-class org.apache.kafka.tools.consumer.ConsoleConsumer ...
KAFKA_VERSION=4.1.1
KAFKA_LOG4J_VERSION=2.24.3   # the log4j-core Kafka depends on; adds its SLF4J binding
image_kafka() {
  tag=hindsight-e2e/kafka:4
  parent=jre
  packages=""
  dockerfile=$(cat <<'EOF'
COPY kafka/ /opt/kafka/
RUN useradd --system --user-group --home-dir /var/lib/kafka --no-create-home --shell /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/kafka/data && chown -R kafka:kafka /var/lib/kafka && chmod 0750 /var/lib/kafka \
 && chmod 0755 /opt/kafka/bin/kafka-start /opt/kafka/bin/kafka-class
ENV KAFKA_HEAP_OPTS="-Xms256m -Xmx512m"
USER kafka
VOLUME /var/lib/kafka
EXPOSE 9092 19092
ENTRYPOINT ["/opt/kafka/bin/kafka-start"]
EOF
)
}

context_kafka() {
  local ctx=$1
  mkdir -p "$ctx/kafka/bin" "$ctx/kafka/config"
  cp -a "$(maven_kafka_libs)" "$ctx/kafka/libs"
  cat >"$ctx/kafka/config/server.properties" <<'EOF'
# Single-node KRaft defaults; bin/kafka-start adds node.id, the quorum, the advertised
# listeners and log.dirs, then any KAFKA_CFG_* overrides (the last value wins).
process.roles=broker,controller
listeners=NETWORK://0.0.0.0:9092,HOST://0.0.0.0:19092,CONTROLLER://127.0.0.1:9093
listener.security.protocol.map=NETWORK:PLAINTEXT,HOST:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=NETWORK
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$ctx/kafka/config/log4j2.properties" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
# Every component prints its whole configuration at INFO: thousands of lines.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  cat >"$ctx/kafka/config/tools-log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
EOF
  cat >"$ctx/kafka/bin/kafka-class" <<'EOF'
#!/bin/sh
# kafka-class CLASS [ARGS...]: runs one of Kafka's tools (logs to stderr, small heap).
set -euf
# shellcheck disable=SC2086
exec java ${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m} -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties \
  -cp '/opt/kafka/libs/*' "$@"
EOF
  cat >"$ctx/kafka/bin/kafka-start" <<'EOF'
#!/bin/sh
# Formats the KRaft storage on first start, then runs the broker + controller.
# No globbing: the class path's libs/* is Java's wildcard, not the shell's.
set -euf
home=/opt/kafka
data=/var/lib/kafka/data
conf=/tmp/kafka-server.properties
: "${KAFKA_CLUSTER_ID:=aGluZHNpZ2h0LWUyZS0xMQ}"
: "${KAFKA_NODE_ID:=1}"
: "${KAFKA_NETWORK_HOST:=$(hostname)}"
: "${KAFKA_ADVERTISED_HOST:=localhost}"
: "${KAFKA_ADVERTISED_PORT:=19092}"
: "${KAFKA_HEAP_OPTS:=-Xms256m -Xmx512m}"
{
  cat "$home/config/server.properties"
  echo "node.id=$KAFKA_NODE_ID"
  echo "controller.quorum.voters=$KAFKA_NODE_ID@127.0.0.1:9093"
  echo "advertised.listeners=NETWORK://$KAFKA_NETWORK_HOST:9092,HOST://$KAFKA_ADVERTISED_HOST:$KAFKA_ADVERTISED_PORT"
  echo "log.dirs=$data"
  env | sed -n 's/^KAFKA_CFG_\([A-Z0-9_]*\)=/\1=/p' | while IFS='=' read -r k v; do
    printf '%s=%s\n' "$(printf '%s' "$k" | tr 'A-Z_' 'a-z.')" "$v"
  done
} >"$conf"
java="java -Dlog4j2.configurationFile=$home/config/log4j2.properties -cp $home/libs/*"
if [ ! -f "$data/meta.properties" ]; then
  echo "kafka-start: formatting $data (cluster $KAFKA_CLUSTER_ID)"
  $java kafka.tools.StorageTool format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$conf"
fi
# shellcheck disable=SC2086
exec $java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true ${KAFKA_OPTS:-} kafka.Kafka "$conf"
EOF
}

# OpenSearch from its integ-test zip on Maven Central (OpenSearch with only the
# transport-netty4 module: no plugins, hence no security plugin; core APIs such as
# _bulk, _search, _count, index templates). Single-node discovery (no bootstrap
# checks), heap 512 MB (OPENSEARCH_JAVA_OPTS), logs on stdout only, data in the volume
# /var/lib/opensearch, runs as the opensearch user. More settings as arguments:
# `-E name=value`. HTTP on 9200.
OPENSEARCH_VERSION=2.19.4
image_opensearch() {
  tag=hindsight-e2e/opensearch:2
  parent=jre
  packages=""
  dockerfile=$(cat <<'EOF'
COPY opensearch/ /opt/opensearch/
RUN useradd --system --user-group --home-dir /var/lib/opensearch --no-create-home --shell /usr/sbin/nologin opensearch \
 && mkdir -p /var/lib/opensearch /var/log/opensearch \
 && chown opensearch:opensearch /var/lib/opensearch /var/log/opensearch \
 && chown -R opensearch:opensearch /opt/opensearch/config \
 && chmod 0750 /var/lib/opensearch
ENV OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m"
WORKDIR /opt/opensearch
USER opensearch
VOLUME /var/lib/opensearch
EXPOSE 9200 9300
ENTRYPOINT ["/opt/opensearch/bin/opensearch"]
EOF
)
}

context_opensearch() {
  local ctx=$1 zip
  zip=$(maven_opensearch_zip)
  unzip -q "$zip" -d "$ctx/unpacked"
  mv "$ctx/unpacked/opensearch-$OPENSEARCH_VERSION" "$ctx/opensearch"
  rm -rf "$ctx/unpacked" "$ctx/opensearch/bin/"*.bat "$ctx/opensearch/bin/"*.exe
  local c=$ctx/opensearch/config
  # Heap from OPENSEARCH_JAVA_OPTS; no GC log, heap dump or error file in the
  # (read-only) install directory.
  sed -i -e 's/^-Xms1g$/-Xms512m/' -e 's/^-Xmx1g$/-Xmx512m/' \
    -e '/-Xlog:gc/d' -e 's#^-XX:HeapDumpPath=.*#-XX:HeapDumpPath=/tmp#' \
    -e 's#^-XX:ErrorFile=.*#-XX:ErrorFile=/tmp/hs_err_pid%p.log#' "$c/jvm.options"
  cat >"$c/opensearch.yml" <<'EOF'
cluster.name: hindsight-e2e
node.name: opensearch
network.host: 0.0.0.0
http.port: 9200
transport.port: 9300
discovery.type: single-node
path.data: /var/lib/opensearch
path.logs: /var/log/opensearch
# Tests share the host's disk; indexing must not stop when it is fuller than usual.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  cat >"$c/log4j2.properties" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
appender.header_warning.type = HeaderWarningAppender
appender.header_warning.name = header_warning
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = deprecation
logger.deprecation.appenderRef.header_warning.ref = header_warning
logger.deprecation.additivity = false
EOF
}

# rsyslog with imfile and omkafka (Debian's rsyslog + rsyslog-kafka, librdkafka), the
# comparison of the pipeline benchmark (e2e/bench/pipeline.sh). No configuration of
# its own: mount one at /etc/rsyslog.d/bench.conf (or pass -f FILE); runs in the
# foreground (-n) with its work directory /var/spool/rsyslog (imfile's state files).
image_rsyslog() {
  tag=hindsight-e2e/rsyslog:8
  parent=base
  packages="rsyslog rsyslog-kafka"
  dockerfile=$(cat <<'EOF'
RUN rm -f /etc/rsyslog.d/*.conf \
 && printf '%s\n' 'global(workDirectory="/var/spool/rsyslog" maxMessageSize="1m")' \
      'module(load="imfile" mode="inotify")' 'module(load="omkafka")' \
      'include(file="/etc/rsyslog.d/*.conf" mode="optional")' >/etc/rsyslog.conf \
 && mkdir -p /var/spool/rsyslog
ENTRYPOINT ["/usr/sbin/rsyslogd", "-n", "-i", "/tmp/rsyslogd.pid"]
CMD ["-f", "/etc/rsyslog.conf"]
EOF
)
}

# Redis from Debian's redis-server, for the topology demo: no persistence, no
# protected mode (reached by other containers on the test network). RESP on 6379.
image_redis() {
  tag=hindsight-e2e/redis:7
  parent=base
  packages="redis-server"
  dockerfile=$(cat <<'EOF2'
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
EOF2
)
}

# PostgreSQL from Debian's postgresql, for the topology demo: a cluster made at build
# time in /var/lib/postgresql/data (user postgres, database postgres) that trusts
# every client (tests only), fsync off. Extra settings as arguments: -c name=value.
image_postgres() {
  tag=hindsight-e2e/postgres:15
  parent=base
  packages="postgresql"
  dockerfile=$(cat <<'EOF2'
ENV PGDATA=/var/lib/postgresql/data
RUN ln -s "$(ls -d /usr/lib/postgresql/*/bin | tail -n1)" /usr/local/lib/pgbin \
 && mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres /var/lib/postgresql /run/postgresql \
 && su postgres -s /bin/sh -c "/usr/local/lib/pgbin/initdb -D $PGDATA --auth=trust --username=postgres --encoding=UTF8" \
 && echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf" \
 && echo "host all all all trust" >>"$PGDATA/pg_hba.conf"
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/lib/pgbin/postgres", "-D", "/var/lib/postgresql/data", "-c", "fsync=off"]
EOF2
)
}

IMAGES="etcd haproxy serf jre kafka opensearch rsyslog redis postgres"

# ---------------------------------------------------------------------------------

# Maven Central artifacts, resolved with the host's mvn and cached under
# $E2E_CACHE/maven so a rebuild does not resolve them again.

# maven_kafka_libs: prints a directory holding the broker's jars and their runtime
# dependencies.
maven_kafka_libs() {
  local dir=$E2E_CACHE/maven/kafka-$KAFKA_VERSION pom key
  pom=$(cat <<EOF
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.hindsight.e2e</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$KAFKA_LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
)
  key=$(printf '%s' "$pom" | sha256sum | cut -c1-16)
  if [ "$(cat "$dir/.key" 2>/dev/null)" != "$key" ]; then
    local tmp start=$SECONDS
    tmp=$(mktemp -d "$E2E_CACHE/mvn.XXXXXX")
    printf '%s\n' "$pom" >"$tmp/pom.xml"
    log "resolving Kafka $KAFKA_VERSION jars with mvn"
    (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs") \
      >"$E2E_CACHE/mvn-kafka.log" 2>&1 || { tail -n 30 "$E2E_CACHE/mvn-kafka.log" >&2; rm -rf "$tmp"; return 1; }
    [ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || { log "mvn did not produce kafka_2.13-$KAFKA_VERSION.jar"; rm -rf "$tmp"; return 1; }
    rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
    mv "$tmp/libs" "$dir"; rm -rf "$tmp"
    echo "$key" >"$dir/.key"
    log "resolved $(ls "$dir"/*.jar | wc -l) jars ($(du -sh "$dir" | cut -f1)) in $((SECONDS - start))s"
  fi
  echo "$dir"
}

# maven_opensearch_zip: prints the path of OpenSearch's integ-test zip.
maven_opensearch_zip() {
  local zip=$E2E_CACHE/maven/opensearch-$OPENSEARCH_VERSION.zip
  if [ ! -s "$zip" ]; then
    local tmp start=$SECONDS
    tmp=$(mktemp -d "$E2E_CACHE/mvn.XXXXXX")
    log "fetching OpenSearch $OPENSEARCH_VERSION integ-test zip with mvn"
    (cd "$tmp" && mvn -q -B dependency:copy -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
      -DoutputDirectory="$tmp") >"$E2E_CACHE/mvn-opensearch.log" 2>&1 \
      || { tail -n 30 "$E2E_CACHE/mvn-opensearch.log" >&2; rm -rf "$tmp"; return 1; }
    mkdir -p "$(dirname "$zip")"
    mv "$tmp/opensearch-$OPENSEARCH_VERSION.zip" "$zip"; rm -rf "$tmp"
    log "fetched $(du -sh "$zip" | cut -f1) in $((SECONDS - start))s"
  fi
  echo "$zip"
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
image_label() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null; }

debootstrap_bin() {
  local tools=$CACHE/tools
  if [ ! -x "$tools/debootstrap/usr/sbin/debootstrap" ]; then
    log "fetching debootstrap (unpacked, not installed on the host)"
    mkdir -p "$tools"
    (cd "$tools" && rm -f debootstrap_*.deb && apt-get download -q debootstrap/bookworm >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get download -q debootstrap/bookworm; })
    dpkg-deb -x "$tools"/debootstrap_*.deb "$tools/debootstrap"
  fi
  echo "$tools/debootstrap"
}

# The base root fs (cached as a tarball) and its image.
base_key() { echo "v1 $SUITE minbase $MIRROR $SECURITY_MIRROR"; }

make_base_rootfs() {
  local key; key=$(base_key)
  if [ -f "$BASE_TAR" ] && [ "$(cat "$BASE_TAR.key" 2>/dev/null)" = "$key" ] && [ -d "$BASE_ROOT" ]; then
    return 0
  fi
  local dbs; dbs=$(debootstrap_bin)
  local root=$BASE_ROOT.tmp
  rm -rf "$root" "$BASE_ROOT"
  log "debootstrap $SUITE minbase (about a minute)"
  DEBOOTSTRAP_DIR=$dbs/usr/share/debootstrap "$dbs/usr/sbin/debootstrap" --variant=minbase "$SUITE" "$root" "$MIRROR" \
    >"$E2E_CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$E2E_CACHE/debootstrap.log" >&2; return 1; }
  # The same sources the host uses; no recommends; the mirror snapshot's Release file
  # may be past its Valid-Until date; no service starts inside images (as in Docker's
  # own Debian images).
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
  } >"$root/etc/apt/sources.list"
  echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-valid-until"
  printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' >"$root/etc/apt/apt.conf.d/99norecommends"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 0755 "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*.log
  tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  echo "$key" >"$BASE_TAR.key"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  mv "$root" "$BASE_ROOT"
}

build_base() {
  local want; want=$(base_key | sha256sum | cut -c1-16)
  make_base_rootfs
  if [ "$(image_label "$BASE_TAG")" = "$want" ]; then return 0; fi
  log "importing $BASE_TAG"
  docker import --change "LABEL $LABEL=$want" --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE_TAG" >/dev/null
}

# chain NAME: the packages of NAME's parents, then NAME's own (one image per line).
parent_packages() {
  local name=$1 tag parent packages dockerfile all=""
  while [ "$name" != base ]; do
    "image_$name"
    all="$packages $all"
    name=$parent
  done
  echo "$all"
}

# download_debs DIR PACKAGES...: the .debs those packages need on top of the base.
download_debs() {
  local dir=$1; shift
  mkdir -p "$dir"
  [ $# -gt 0 ] || return 0
  local r=$BASE_ROOT
  if [ ! -f "$r/.lists-updated" ] || [ -n "$(find "$r/.lists-updated" -mmin +720)" ]; then
    chroot "$r" apt-get update -q >"$E2E_CACHE/apt.log" 2>&1 || { tail -n 20 "$E2E_CACHE/apt.log" >&2; return 1; }
    touch "$r/.lists-updated"
  fi
  chroot "$r" apt-get clean
  chroot "$r" apt-get install -q -y --download-only "$@" >>"$E2E_CACHE/apt.log" 2>&1 \
    || { tail -n 20 "$E2E_CACHE/apt.log" >&2; return 1; }
  cp "$r"/var/cache/apt/archives/*.deb "$dir"/ 2>/dev/null || true
  chroot "$r" apt-get clean
}

build_image() {
  local name=$1 tag parent packages dockerfile
  if ! declare -F "image_$name" >/dev/null; then
    log "unknown image '$name' (known: $IMAGES)"; return 1
  fi
  "image_$name"
  local my_tag=$tag my_parent=$parent my_packages=$packages my_dockerfile=$dockerfile
  local parent_tag
  if [ "$my_parent" = base ]; then
    build_base; parent_tag=$BASE_TAG
  else
    build_image "$my_parent"; "image_$my_parent"; parent_tag=$tag
  fi
  local want; want=$(echo "$SCRIPT_HASH $(image_id "$parent_tag")" | sha256sum | cut -c1-16)
  if [ "$(image_label "$my_tag")" = "$want" ]; then
    log "$my_tag is up to date"; return 0
  fi
  local start=$SECONDS ctx
  ctx=$(mktemp -d "$E2E_CACHE/ctx.XXXXXX")
  # Only the .debs the parent image does not have already.
  local inherited="" own
  [ "$my_parent" = base ] || inherited=$(parent_packages "$my_parent")
  download_debs "$ctx/debs" $inherited $my_packages
  if [ -n "$inherited" ]; then
    download_debs "$ctx/inherited" $inherited
    for f in "$ctx"/inherited/*.deb; do [ -e "$f" ] && rm -f "$ctx/debs/$(basename "$f")"; done
    rm -rf "$ctx/inherited"
  fi
  if declare -F "context_$name" >/dev/null; then "context_$name" "$ctx"; fi
  own=$(ls "$ctx/debs" | wc -l)
  {
    echo "FROM $parent_tag"
    if [ "$own" -gt 0 ]; then
      echo "COPY debs/ /tmp/debs/"
      echo "RUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs /var/log/dpkg.log /var/log/apt"
    fi
    echo "$my_dockerfile"
  } >"$ctx/Dockerfile"
  log "building $my_tag ($own .debs)"
  DOCKER_BUILDKIT=0 docker build --network none --label "$LABEL=$want" -t "$my_tag" "$ctx" >"$E2E_CACHE/build-$name.log" 2>&1 \
    || { tail -n 30 "$E2E_CACHE/build-$name.log" >&2; rm -rf "$ctx"; log "building $my_tag failed (log: $E2E_CACHE/build-$name.log)"; return 1; }
  rm -rf "$ctx"
  log "built $my_tag in $((SECONDS - start))s"
}

main() {
  case "${1:-}" in
    --list) echo "$IMAGES"; return 0 ;;
    -h|--help) sed -n '2,18p' "$SCRIPT" | sed 's/^# \{0,1\}//'; return 0 ;;
  esac
  if [ "$(id -u)" != 0 ]; then log "e2e/images/build.sh needs root (debootstrap, chroot)"; return 1; fi
  mkdir -p "$E2E_CACHE"
  "$REPO_ROOT/tools/setup/docker.sh"
  local names=("$@")
  if [ ${#names[@]} -eq 0 ] || [ "${names[*]}" = all ]; then read -r -a names <<<"$IMAGES"; fi
  for n in "${names[@]}"; do build_image "$n"; done
}

with_lock e2e-images main "$@"
