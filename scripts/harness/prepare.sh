#!/usr/bin/env bash
# Everything the tests and the lab need on a fresh Debian machine (as root):
# Docker engine, systemd base images, the artifact cache, the controller virtualenv.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/harness/ensure-docker.sh
scripts/harness/build-images.sh
python3 scripts/harness/fill_artifact_cache.py
scripts/harness/venv.sh
