"""Bad input to the datastore exporters: each run fails before any change (recap changed=0; unit,
password file and main PID as before), with the failed task's own message naming the variable,
and a value that may hold a password is never echoed."""
from __future__ import annotations

from conftest import REPO, run_failing_without_change

INLINE_SECRET = "Inline-Secret-5xQ"


def test_redis_address_without_a_port(one_host):
    message = run_failing_without_change(
        one_host, REPO / "playbooks/redis_exporter.yml", "redis_exporter",
        ["/etc/systemd/system/redis_exporter.service", "/etc/redis_exporter/password.json"],
        {"redis_exporter_redis_address": "127.0.0.1"})
    assert 'redis_exporter_redis_address must be "host:port"' in message
    assert '"127.0.0.1"' in message


def test_redis_uri_with_credentials_is_rejected_without_echoing_them(one_host):
    message = run_failing_without_change(
        one_host, REPO / "playbooks/redis_exporter.yml", "redis_exporter",
        ["/etc/systemd/system/redis_exporter.service", "/etc/redis_exporter/password.json"],
        {"redis_exporter_redis_address": f"redis://:{INLINE_SECRET}@127.0.0.1:6379"}, hidden=INLINE_SECRET)
    assert "redis_exporter_redis_address" in message


def test_dsn_with_an_inline_password_is_rejected_without_echoing_it(one_host):
    """A whole DSN in the host variable, and "user:password" in the user variable: both named in
    one failure (validation reports every problem at once), the password shown nowhere."""
    files = ["/etc/systemd/system/postgres_exporter.service", "/etc/postgres_exporter/password"]
    bad = {"postgres_exporter_db_host": f"postgresql://monitoring:{INLINE_SECRET}@db.example.com:5432/postgres",
           "postgres_exporter_db_user": f"monitoring:{INLINE_SECRET}"}
    message = run_failing_without_change(one_host, REPO / "playbooks/postgres_exporter.yml", "postgres_exporter",
                                         files, bad, hidden=INLINE_SECRET)
    assert "postgres_exporter_db_host must be a host name or an IP address only" in message
    assert "postgres_exporter_db_user must be a role name" in message
