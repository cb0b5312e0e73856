#!/usr/bin/env bash
# The local lab: the whole stack in local containers, UIs on 127.0.0.1 only.
#   scripts/lab.sh up     # build/boot/converge with inventories/lab + playbooks/site.yml, print URLs
#   scripts/lab.sh down   # remove the lab containers
#   ONLINE=1 scripts/lab.sh up   # (make lab ONLINE=1) the upstream releases, with Prometheus'
#                                # web UI, and Grafana: downloaded once into their own cache
# By default the lab is offline (monitoring_offline: true in inventories/lab): every artifact
# comes from the cache that scripts/harness/prepare.sh fills from Debian's builds, and nothing
# leaves this machine.
# The containers are defined once, in molecule/default/molecule.yml (the full-stack scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ONLINE:-0}" = 1 ]; then
  # A cache of its own: the offline one holds Debian-built archives under the same names.
  export MONITORING_STACK_CACHE=${MONITORING_STACK_CACHE:-$HOME/.cache/monitoring-stack-online} MONITORING_ONLINE=1
  export HARNESS_SKIP_DEBIAN_CACHE=1
else
  export MONITORING_STACK_CACHE=${MONITORING_STACK_CACHE:-$HOME/.cache/monitoring-stack}
  unset MONITORING_ONLINE
fi
export LAB_PROMETHEUS_PORT=${LAB_PROMETHEUS_PORT:-9090} LAB_ALERTMANAGER_PORT=${LAB_ALERTMANAGER_PORT:-9093} \
       LAB_PUSHGATEWAY_PORT=${LAB_PUSHGATEWAY_PORT:-9091} LAB_BLACKBOX_PORT=${LAB_BLACKBOX_PORT:-9115} \
       LAB_GRAFANA_PORT=${LAB_GRAFANA_PORT:-3000} LAB_APP_PORT=${LAB_APP_PORT:-8000}

case "${1:-up}" in
  up)
    scripts/harness/prepare.sh
    # shellcheck disable=SC1091
    source .venv/bin/activate
    molecule create -s default
    molecule converge -s default
    grafana="https://127.0.0.1:$LAB_GRAFANA_PORT  (user admin, password: $(cat "$MONITORING_STACK_CACHE/lab-grafana-admin-password" 2>/dev/null))"
    if ! docker exec "${MOLECULE_INSTANCE_PREFIX:-}monitor" systemctl is-active --quiet grafana-server 2>/dev/null; then
      grafana="not running: the Grafana package is not in $MONITORING_STACK_CACHE/grafana/ (offline lab; make lab ONLINE=1 downloads it); everything else is up"
    fi
    cat <<MSG

The lab is up (all ports bound to 127.0.0.1), in the secure shape: HTTPS with the lab's own CA
and basic auth on every endpoint (user "lab"; the app asks for it on /metrics only).
  Prometheus    https://127.0.0.1:$LAB_PROMETHEUS_PORT   $( [ "${ONLINE:-0}" = 1 ] && echo "(upstream build, web UI)" || echo "(Debian-built, no web UI; the API works: /api/v1/targets; make lab ONLINE=1 for the UI)")
  Alertmanager  https://127.0.0.1:$LAB_ALERTMANAGER_PORT
  Pushgateway   https://127.0.0.1:$LAB_PUSHGATEWAY_PORT/metrics
  Blackbox      https://127.0.0.1:$LAB_BLACKBOX_PORT
  App (app1)    https://127.0.0.1:$LAB_APP_PORT/health
  Grafana       $grafana
CA certificate: $MONITORING_STACK_CACHE/lab-pki/ca.crt
Credentials:    user "lab", password in $MONITORING_STACK_CACHE/lab-secrets/<component>.lab, e.g.
  curl --cacert $MONITORING_STACK_CACHE/lab-pki/ca.crt \\
       -u "lab:\$(cat $MONITORING_STACK_CACHE/lab-secrets/prometheus.lab)" https://127.0.0.1:$LAB_PROMETHEUS_PORT/api/v1/targets
Re-apply after editing inventories/lab:  source .venv/bin/activate && molecule converge -s default
Tear down:                               scripts/lab.sh down
MSG
    ;;
  down)
    # shellcheck disable=SC1091
    source .venv/bin/activate
    molecule destroy -s default
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
