#!/usr/bin/env bash
# Ensures a Docker engine answers on /var/run/docker.sock: installs Debian's docker.io
# when dockerd is missing and starts dockerd in the background (its own session, log in
# the cache directory). Idempotent and safe to run concurrently; prints nothing when an
# engine already answers. Needs root.
source "$(dirname "$0")/common.sh"

SOCK=/var/run/docker.sock
DOCKERD_LOG=$CACHE/dockerd.log
WAIT_SECONDS=${HINDSIGHT_DOCKER_WAIT:-60}

answers() { docker -H "unix://$SOCK" info >/dev/null 2>&1; }

install_engine() {
  command -v dockerd >/dev/null 2>&1 && return 0
  log "installing docker.io (Debian's Docker engine, about 30 s)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q docker.io >"$CACHE/docker-apt.log" 2>&1; then
    apt-get update -q >>"$CACHE/docker-apt.log" 2>&1
    apt-get install -y -q docker.io >>"$CACHE/docker-apt.log" 2>&1 \
      || { tail -n 20 "$CACHE/docker-apt.log" >&2; log "apt-get install docker.io failed (log: $CACHE/docker-apt.log)"; return 1; }
  fi
}

start_engine() {
  answers && return 0
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers on $SOCK and starting one needs root: run sudo $0"
    return 1
  fi
  install_engine
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # A socket or pid file left by a dead daemon stops a new one from starting.
    rm -f "$SOCK" /var/run/docker.pid
    # Close the lock fd so the daemon does not keep it open.
    setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 {lockfd}>&- &
  fi
  local deadline=$((SECONDS + WAIT_SECONDS))
  until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
      log "dockerd did not answer on $SOCK within ${WAIT_SECONDS}s (log: $DOCKERD_LOG)"
      return 1
    fi
    sleep 0.5
  done
  log "Docker engine ready: $(docker -H "unix://$SOCK" version --format '{{.Server.Version}}' 2>/dev/null)"
}

answers && exit 0
with_lock docker start_engine
