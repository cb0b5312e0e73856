#!/usr/bin/env bash
# Everything the tests and the lab need on a fresh Debian machine (as root):
# Docker engine, systemd base images, the artifact cache, the controller virtualenv.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/harness/ensure-docker.sh
scripts/harness/build-images.sh
# An online lab (make lab ONLINE=1) downloads the upstream releases instead.
[ "${HARNESS_SKIP_DEBIAN_CACHE:-0}" = 1 ] || python3 scripts/harness/fill_artifact_cache.py
scripts/harness/venv.sh
# The app's wheel archives for Debian 12 (Python 3.11) and 13 (3.13): the runs are offline.
.venv/bin/ansible-playbook -i localhost, playbooks/fetch_artifacts.yml --tags wheels >/dev/null
