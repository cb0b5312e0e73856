"""The datastore exporters on each host (Debian 12 and 13), against the real redis-server and
PostgreSQL that prepare.yml installed: the values come from those datastores, and change when
the test changes them."""
from __future__ import annotations

import os
import re
import uuid

import pytest
import testinfra

from conftest import (
    REPO,
    assert_enabled_system_service,
    assert_listens_on_host_address_only,
    host_address,
    main_pid,
    poll,
    run_playbook,
    security_score,
)

# The host without Prometheus (the Debian 12 one).
OTHER = f"{os.environ.get('MOLECULE_INSTANCE_PREFIX', '')}debian12"
PORTS = {"redis_exporter": 9121, "postgres_exporter": 9187}
PASSWORD_FILES = {"redis_exporter": "/etc/redis_exporter/password.json",
                  "postgres_exporter": "/etc/postgres_exporter/password"}
_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(host, unit: str) -> str:
    """One scrape of the exporter, as Prometheus does it (each scrape asks the datastore)."""
    return host.check_output(f"curl -sf http://{host_address(host)}:{PORTS[unit]}/metrics")


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of the series `name` whose labels include `labels`."""
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group(1) == name:
            have = dict(_LABEL.findall(match.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                found.append(float(match.group(3)))
    return found


def one(text: str, name: str, **labels: str) -> float:
    values = samples(text, name, **labels)
    assert len(values) == 1, f"{name}{labels}: {values}"
    return values[0]


def secrets(host) -> dict[str, str]:
    variables = host.ansible.get_variables()
    return {"redis_exporter": variables["exporters_test_redis_password"],
            "postgres_exporter": variables["exporters_test_postgres_password"]}


def redis_cli(host, args: str):
    """redis-cli with the password in its environment (REDISCLI_AUTH), not in its argv."""
    password = secrets(host)["redis_exporter"]
    return host.run(f"REDISCLI_AUTH='{password}' redis-cli --no-auth-warning -n 0 {args}")


@pytest.mark.parametrize("unit", list(PORTS))
def test_exporter_runs_as_its_own_system_user(host, unit):
    assert_enabled_system_service(host, unit, unit)


@pytest.mark.parametrize("unit", list(PORTS))
def test_exporter_listens_on_the_host_address_only(host, unit):
    assert_listens_on_host_address_only(host, PORTS[unit])


@pytest.mark.parametrize("unit", list(PORTS))
def test_unit_is_hardened(host, unit):
    assert security_score(host, unit) <= 2.0


def test_redis_up_with_the_password_and_key_count_follows_a_write(host):
    # Redis refuses clients without the password: redis_up 1 means the exporter used it.
    assert "NOAUTH" in host.run("redis-cli -n 0 PING").stdout
    text = metrics(host, "redis_exporter")
    assert one(text, "redis_up") == 1
    assert one(text, "redis_memory_max_bytes") == 64 * 1024 * 1024  # prepare's maxmemory 64mb
    before = one(text, "redis_db_keys", db="db0")
    key = f"molecule:{uuid.uuid4().hex}"
    assert redis_cli(host, f"SET {key} 1").stdout.strip() == "OK"
    try:
        assert one(metrics(host, "redis_exporter"), "redis_db_keys", db="db0") == before + 1
    finally:
        assert redis_cli(host, f"DEL {key}").stdout.strip() == "1"
    assert one(metrics(host, "redis_exporter"), "redis_db_keys", db="db0") == before


def test_pg_up_and_pg_stat_database_rows_of_the_test_database(host):
    database = host.ansible.get_variables()["exporters_test_database"]
    text = metrics(host, "postgres_exporter")
    assert one(text, "pg_up") == 1
    for name in ("pg_stat_database_numbackends", "pg_stat_database_xact_commit", "pg_stat_database_deadlocks"):
        assert len(samples(text, name, datname=database)) == 1, name
    assert one(text, "pg_database_size_bytes", datname=database) > 0
    before = one(text, "pg_stat_database_xact_commit", datname=database)
    host.check_output(f"runuser -u postgres -- psql -X -q -d {database} -c 'SELECT 1'")
    # The server publishes its statistics within about a second.
    after = poll(lambda: (lambda v: v if v > before else None)(
        one(metrics(host, "postgres_exporter"), "pg_stat_database_xact_commit", datname=database)), timeout=15)
    assert after and after > before


def test_monitoring_role_has_pg_monitor_and_nothing_more(host):
    user = host.ansible.get_variables()["postgres_exporter_db_user"]
    psql = "runuser -u postgres -- psql -X -A -t -c"
    assert host.check_output(f"{psql} \"SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles "
                             f"WHERE rolname = '{user}'\"") == "f|f|f|t"
    assert host.check_output(f"{psql} \"SELECT string_agg(g.rolname, ',') FROM pg_auth_members m "
                             f"JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                             f"WHERE u.rolname = '{user}'\"") == "pg_monitor"


@pytest.mark.parametrize("unit", list(PORTS))
def test_password_is_in_neither_unit_argv_ps_environment_nor_journal(host, unit):
    password = secrets(host)[unit]
    pid = main_pid(host, unit)
    assert pid != "0"
    places = {
        "unit file": host.file(f"/etc/systemd/system/{unit}.service").content_string,
        "systemctl show": host.check_output(f"systemctl show {unit}"),
        "argv": host.check_output(f"tr '\\0' ' ' < /proc/{pid}/cmdline"),
        "environment": host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ"),
        "ps": host.check_output("ps -eo args"),
        "journal": host.check_output(f"journalctl -u {unit} --no-pager -o cat"),
    }
    assert [where for where, text in places.items() if password in text] == []
    # Where it is: a file only root and the service's group can read.
    secret = host.file(PASSWORD_FILES[unit])
    assert (secret.user, secret.group, secret.mode) == ("root", unit, 0o640)
    assert password in host.check_output(f"cat {PASSWORD_FILES[unit]}")


def test_a_new_redis_password_restarts_the_exporter(one_host):
    """The password file is read at start: a changed password restarts the exporter (the unit is
    unchanged), and the exporter then uses the new one. Only the configure and service phases run
    (their tags): the password file alone decides."""
    host = one_host
    playbook, tags = REPO / "playbooks/redis_exporter.yml", "redis_exporter_configure,redis_exporter_service"
    before = main_pid(host, "redis_exporter")
    wrong = run_playbook(playbook, host.backend.host, {"redis_exporter_redis_password": "not-the-password"}, tags=tags)
    try:
        assert wrong.returncode == 0, str(wrong)
        assert main_pid(host, "redis_exporter") != before
        assert one(metrics(host, "redis_exporter"), "redis_up") == 0
    finally:
        restored = run_playbook(playbook, host.backend.host, tags=tags)
    assert restored.returncode == 0, str(restored)
    assert one(metrics(host, "redis_exporter"), "redis_up") == 1
    assert not host.file("/run/monitoring-stack/restart-pending/redis_exporter").exists


def test_dry_run_changes_nothing_and_shows_no_secret():
    """`--check --diff` of the converged exporters (on the host without Prometheus, whose checks
    would need the other host's endpoints): nothing to change, no password in the output."""
    host = testinfra.get_host(f"ansible://{OTHER}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")
    pids = {unit: main_pid(host, unit) for unit in PORTS}
    result = run_playbook(REPO / "molecule/exporters/converge.yml", OTHER, check=True,
                          tags="redis_exporter,postgres_exporter")
    assert result.returncode == 0, str(result)
    assert result.changed == 0, str(result)
    assert [s for s in secrets(host).values() if s in result.stdout + result.stderr] == []
    assert {unit: main_pid(host, unit) for unit in PORTS} == pids
