#!/usr/bin/env bash
# Make sure a Docker engine answers. Installs Debian's docker.io/debootstrap (and the tools the
# tests run on the controller) when missing and starts dockerd when no engine answers. A
# dockerd started here is recorded in $STATE_DIR/dockerd.pid so scripts/harness/stop-docker.sh
# stops only what we started.
set -euo pipefail
STATE_DIR=${STATE_DIR:-/var/tmp/monitoring-stack-harness}
mkdir -p "$STATE_DIR"

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v zstd >/dev/null 2>&1 || need_pkgs+=(zstd)
# The pki scenario's tests make a foreign CA and another host's certificate on the controller.
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if ((${#need_pkgs[@]})); then
  echo "harness: installing ${need_pkgs[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

echo "harness: no Docker engine answers; starting dockerd"
nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
echo $! >"$STATE_DIR/dockerd.pid"
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "harness: dockerd did not come up; last log lines:" >&2
tail -n 30 "$STATE_DIR/dockerd.log" >&2
exit 1
