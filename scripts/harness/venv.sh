#!/usr/bin/env bash
# Controller virtualenv (.venv) with the pinned tooling and the app (for its unit tests).
# Re-installs only when requirements.txt or app_src/pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt app_src/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
[ -x .venv/bin/python ] || python3 -m venv .venv
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "harness: installing controller requirements into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  [ -f app_src/pyproject.toml ] && .venv/bin/pip install -q -e 'app_src[test]'
  echo "$want" >"$stamp"
fi
