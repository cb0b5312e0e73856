"""The role hashes the app's /metrics users on the controller (filter hash_pbkdf2_users); the
app verifies them (monitored_app.auth). The two must agree on the format."""
from __future__ import annotations

from pathlib import Path

import pytest
from monitored_app.auth import load_users, verify_password

from filter_plugins import load_filter_plugin

ms = load_filter_plugin()


def test_the_app_accepts_what_the_role_writes(tmp_path: Path):
    hashed = ms.hash_pbkdf2_users({"prometheus": "s3cret-scrape-password", "ops": "other"}, "app1monitored-app", 1000)
    users_file = tmp_path / "metrics-users"
    users_file.write_text("".join(f"{user}:{value}\n" for user, value in hashed.items()))
    users = load_users(users_file)
    assert verify_password("s3cret-scrape-password", users["prometheus"])
    assert not verify_password("s3cret-scrape-passworD", users["prometheus"])
    assert verify_password("other", users["ops"])


def test_hashes_are_stable_per_host_and_differ_between_hosts():
    one = ms.hash_pbkdf2_users({"prometheus": "pw"}, "app1monitored-app", 1000)
    assert one == ms.hash_pbkdf2_users({"prometheus": "pw"}, "app1monitored-app", 1000)
    assert one != ms.hash_pbkdf2_users({"prometheus": "pw"}, "app2monitored-app", 1000)


def test_an_empty_password_is_refused():
    with pytest.raises(Exception, match="empty password"):
        ms.hash_pbkdf2_users({"prometheus": ""}, "seed")
