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

  # Static checks and unit tests: one process at a time, so they run beside the Molecule
  # lanes (started below) instead of before them, where they kept one core idle for about
  # a minute. Their output is printed whole when they end, as a scenario's is.
  static_checks() {
    if wants lint; then
      suite yamllint yamllint --strict .
      suite ansible-lint ansible-lint --profile production --offline
      suite ruff ruff check .
      suite mypy mypy app_src/src bench scripts roles/*/filter_plugins roles/*/action_plugins plugins/filter plugins/lookup
    fi
    if wants unit; then
      log "unit: pytest tests app_src/tests"
      t0=$SECONDS
      pytest -q --junitxml="$RESULTS/junit/unit.xml" tests app_src/tests
      rc=$?
      # pytest exit 5 = nothing collected: that is a failure of the suite, not a pass.
      record "unit (pytest)" "$([ $rc -eq 0 ] && echo pass || echo fail)" $((SECONDS - t0))
    fi
  }
  mkdir -p "$RESULTS/logs"
  if wants lint || wants unit; then
    (
      static_checks >"$RESULTS/logs/static.log" 2>&1
      flock "$RESULTS/print.lock" cat "$RESULTS/logs/static.log"
    ) &
  fi

  # Molecule scenarios: molecule/<scenario> (the big multi-host ones first), then
  # roles/<role>/molecule/<scenario>. They run in MOLECULE_LANES parallel lanes (default 2):
  # a scenario spends most of its time waiting on containers (docker exec, services starting,
  # alerts firing), so two lanes use the machine's two cores instead of one. Each lane has its
  # own container names (MOLECULE_INSTANCE_PREFIX l1-, l2-); each scenario's output is printed
  # whole when it ends, so the log reads like a serial run.
  : >"$RESULTS/queue"
  for file in molecule/*/molecule.yml roles/*/molecule/*/molecule.yml; do
    [ -f "$file" ] || continue
    dir=${file%/molecule.yml}; scenario=${dir##*/}
    if [[ $file == roles/* ]]; then
      role=${file#roles/}; role=${role%%/*}; key="role:$role"; project=roles/$role; label="molecule $role/$scenario"
    else
      key="scenario:$scenario"; project=.; label="molecule stack/$scenario"
    fi
    wants "$key" && printf '%s\t%s\t%s\n' "$project" "$scenario" "$label" >>"$RESULTS/queue"
  done

  # Take the next scenario off the queue (under a lock: the lanes share it).
  next_scenario() {
    flock "$RESULTS/queue.lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' _ "$RESULTS/queue"
  }

  run_scenario() {  # lane project scenario label
    local lane=$1 project=$2 scenario=$3 label=$4 t0=$SECONDS safe=${4//[ \/]/_} rc
    # A converge that could not do its work (Grafana without its package) writes its reason
    # here: the scenario then counts as skipped, not passed.
    local skip_file="$RESULTS/skip-$safe"
    (
      cd "$project" &&
        MOLECULE_INSTANCE_PREFIX="${MOLECULE_INSTANCE_PREFIX:-}l$lane-" \
        PYTEST_ADDOPTS="--junitxml=$RESULTS/junit/$safe.xml" \
        MONITORING_TEST_SKIP_FILE="$skip_file" \
        molecule test -s "$scenario"
    ) >"$RESULTS/logs/$safe.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
      record "$label" fail $((SECONDS - t0))
    elif [ -s "$skip_file" ]; then
      record "$label (converge, idempotence)" skip $((SECONDS - t0)) "$(cat "$skip_file")"
    else
      record "$label" pass $((SECONDS - t0))
    fi
    flock "$RESULTS/print.lock" sh -c 'printf "\n=== %s: molecule test -s %s (lane %s, %ss, rc %s)\n" "$1" "$2" "$3" "$4" "$5"; cat "$6"' \
      _ "$label" "$scenario" "$lane" $((SECONDS - t0)) "$rc" "$RESULTS/logs/$safe.log"
  }

  lane() {
    local line project scenario label
    while line=$(next_scenario) && [ -n "$line" ]; do
      IFS=$'\t' read -r project scenario label <<<"$line"
      run_scenario "$1" "$project" "$scenario" "$label"
    done
  }

  lanes=${MOLECULE_LANES:-2}
  for ((n = 1; n <= lanes; n++)); do lane "$n" & done
  wait
fi

# Stop a dockerd this run started before the summary, so the summary line is the last line.
[ "$engine_was_running" = 1 ] || scripts/harness/stop-docker.sh || true
log "results"
python3 scripts/harness/summarize.py "$RESULTS" $(( $(date +%s) - START ))
