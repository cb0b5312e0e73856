#!/usr/bin/env bash
# Build the systemd base images the Molecule scenarios and the lab run on.
# No registry is reachable, so each image is a debootstrap'ed Debian root imported with
# `docker import`. An image is rebuilt only when this recipe changes (label `recipe`).
#
#   scripts/harness/build-images.sh            # bookworm and trixie
#   scripts/harness/build-images.sh bookworm   # just one
set -euo pipefail
# recipe hash: a change to this file rebuilds the images.
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE_REPO=${IMAGE_REPO:-monitoring-stack/debian}
# Packages a managed host needs: systemd as PID 1, sudo + python3 for Ansible, and the small tools
# our tests use inside the containers (curl, ss, ps).
PACKAGES=systemd,systemd-sysv,dbus,sudo,python3,python3-apt,ca-certificates,curl,iproute2,procps,tzdata
recipe=$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-12)

declare -A VERSION=([bookworm]=12 [trixie]=13)
suites=("$@"); ((${#suites[@]})) || suites=(bookworm trixie)

build() {
  local suite=$1 tag="$IMAGE_REPO:${VERSION[$1]}"
  if [ "$(docker image inspect -f '{{ index .Config.Labels "recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
    echo "harness: image $tag is up to date"
    return 0
  fi
  local root; root=$(mktemp -d "/var/tmp/rootfs-$suite.XXXX")
  echo "harness: debootstrap $suite into $root (a few minutes)"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; return 1; }
  # Units that make no sense in a container and only slow the boot or fail.
  for unit in systemd-remount-fs.service getty.target console-getty.service \
              systemd-logind.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  # Keep the package lists: a real host has them, and apt(cache_valid_time) trusts their age.
  rm -rf "$root"/var/cache/apt/archives/*.deb
  echo "deb $MIRROR $suite main" >"$root/etc/apt/sources.list"
  tar -C "$root" -c . | docker import \
    --change 'ENV container=docker' \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL recipe=$recipe" \
    - "$tag" >/dev/null
  rm -rf "$root" "$root.log"
  echo "harness: built $tag"
}

pids=()
for s in "${suites[@]}"; do build "$s" & pids+=($!); done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
