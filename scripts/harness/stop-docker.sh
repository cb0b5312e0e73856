#!/usr/bin/env bash
# Stop dockerd only if scripts/harness/ensure-docker.sh started it.
set -euo pipefail
STATE_DIR=${STATE_DIR:-/var/tmp/monitoring-stack-harness}
pidfile="$STATE_DIR/dockerd.pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
if kill -0 "$pid" 2>/dev/null; then
  echo "harness: stopping the dockerd we started (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
fi
rm -f "$pidfile"
