#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root with nothing running:
#   scripts/test.sh                 # everything (what `make test` and .ci/run run)
#   scripts/test.sh lint unit       # static checks and Python unit tests only
#   scripts/test.sh role:pushgateway scenario:default
# Ends with one summary line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export MONITORING_STACK_CACHE=${MONITORING_STACK_CACHE:-$HOME/.cache/monitoring-stack}
RESULTS=$(mktemp -d /tmp/monitoring-stack-tests.XXXX)
mkdir -p "$RESULTS/junit"
: >"$RESULTS/suites.tsv"
START=$(date +%s)

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$RESULTS/suites.tsv"; }
log() { printf '\n=== %s\n' "$*"; }

# Run one suite: name, command... ; records pass/fail and wall time.
suite() {
  local name=$1 t0=$SECONDS; shift
  log "$name: $*"
  if "$@"; then record "$name" pass $((SECONDS - t0)); else record "$name" fail $((SECONDS - t0)); fi
}

requested=("$@"); ((${#requested[@]})) || requested=(lint unit role:all scenario:all)
wants() { local s; for s in "${requested[@]}"; do [[ $s == "$1" || $s == "${1%%:*}:all" ]] && return 0; done; return 1; }

# --- prerequisites: engine, images, artifact cache, virtualenv ---------------------------
log "prerequisites"
# Stop dockerd at the end only if this run is the one that starts it.
docker info >/dev/null 2>&1 && engine_was_running=1 || engine_was_running=0
if ! scripts/harness/prepare.sh; then
  record prerequisites fail 0
else
  # shellcheck disable=SC1091
  source .venv/bin/activate

  if wants lint; then
    suite yamllint yamllint --strict .
    suite ansible-lint ansible-lint --profile production --offline
    suite ruff ruff check .
    suite mypy mypy app_src/src bench scripts roles/*/filter_plugins plugins/filter
  fi
  if wants unit; then
    log "unit: pytest tests app_src/tests"
    t0=$SECONDS
    pytest -q --junitxml="$RESULTS/junit/unit.xml" tests app_src/tests
    rc=$?
    # pytest exit 5 = nothing collected: that is a failure of the suite, not a pass.
    record "unit (pytest)" "$([ $rc -eq 0 ] && echo pass || echo fail)" $((SECONDS - t0))
  fi

  # Molecule scenarios: roles/<role>/molecule/<scenario> and molecule/<scenario>.
  for file in roles/*/molecule/*/molecule.yml molecule/*/molecule.yml; do
    [ -f "$file" ] || continue
    dir=${file%/molecule.yml}; scenario=${dir##*/}
    if [[ $file == roles/* ]]; then
      role=${file#roles/}; role=${role%%/*}; key="role:$role"; project=roles/$role; label="molecule $role/$scenario"
    else
      key="scenario:$scenario"; project=.; label="molecule stack/$scenario"
    fi
    wants "$key" || continue
    export PYTEST_ADDOPTS="--junitxml=$RESULTS/junit/${label//[ \/]/_}.xml"
    # A converge that could not do its work (Grafana without its package) writes its reason
    # here: the scenario then counts as skipped, not passed.
    export MONITORING_TEST_SKIP_FILE="$RESULTS/skip-${label//[ \/]/_}"
    t0=$SECONDS
    log "$label: molecule test -s $scenario"
    if (cd "$project" && molecule test -s "$scenario"); then
      if [ -s "$MONITORING_TEST_SKIP_FILE" ]; then
        record "$label (converge, idempotence)" skip $((SECONDS - t0)) "$(cat "$MONITORING_TEST_SKIP_FILE")"
      else
        record "$label" pass $((SECONDS - t0))
      fi
    else
      record "$label" fail $((SECONDS - t0))
    fi
    unset PYTEST_ADDOPTS MONITORING_TEST_SKIP_FILE
  done
fi

# Stop a dockerd this run started before the summary, so the summary line is the last line.
[ "$engine_was_running" = 1 ] || scripts/harness/stop-docker.sh || true
log "results"
python3 scripts/harness/summarize.py "$RESULTS" $(( $(date +%s) - START ))
