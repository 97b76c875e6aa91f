#!/bin/bash
# HAProxy and the renderer that owns its config in one container, as confd is
# deployed next to HAProxy: the renderer writes haproxy.cfg and reloads the
# master process (master-worker mode) with SIGUSR2. Whichever of the two
# exits ends the container, so its supervisor restarts both.
set -u
cfg=/usr/local/etc/haproxy/haproxy.cfg
conf=/etc/hindsight/render.yaml
mkdir -p /run/haproxy
# Start HAProxy on the current membership; if that render fails HAProxy
# starts on the config it has (the image's), and the renderer keeps trying.
render --onetime --config "$conf" || echo "lb: first render failed; starting HAProxy on the config it has" >&2
haproxy -W -db -f "$cfg" -p /run/haproxy.pid &
haproxy_pid=$!
render --config "$conf" &
render_pid=$!
trap 'kill -TERM "$render_pid" 2>/dev/null; kill -USR1 "$haproxy_pid" 2>/dev/null' TERM INT
wait -n
status=$?
kill -TERM "$render_pid" 2>/dev/null
kill -USR1 "$haproxy_pid" 2>/dev/null
wait
exit "$status"
