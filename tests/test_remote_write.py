"""Remote write and the HA pair's replica label (roles/prometheus/filter_plugins/prometheus.py)."""
from __future__ import annotations

import pytest

from filter_plugins import load_filter_plugin

pf = load_filter_plugin("prometheus", role="prometheus")

STORE = {"address": "10.0.0.9:8428", "url": "https://10.0.0.9:8428", "scheme": "https", "ca_file": "/etc/ssl/ca.pem",
         "basic_auth": {"username": "prom", "password": "s3cret"}, "write_path": "/api/v1/write",
         "inventory_host": "store1"}
QUEUE = {"capacity": 10000, "max_backoff": "5s"}


def test_contract_store_and_own_entries_keep_secrets_out_of_the_config():
    own = [{"url": "https://mimir.example.org/api/v1/push", "bearer_token": "t0ken",
            "queue_config": {"max_backoff": "10s"},
            "write_relabel_configs": [{"action": "drop", "source_labels": ["__name__"], "regex": "go_.*"}]}]
    targets = pf.remote_write_targets(own, [STORE])
    config = pf.remote_write_config(targets, "/etc/prometheus/secrets", ["replica"], QUEUE)
    assert config == [
        {"url": "https://10.0.0.9:8428/api/v1/write", "name": "victoriametrics-store1",
         "basic_auth": {"username": "prom", "password_file": "/etc/prometheus/secrets/remote-write-0.password"},
         "tls_config": {"ca_file": "/etc/ssl/ca.pem"}, "queue_config": QUEUE,
         "write_relabel_configs": [{"action": "labeldrop", "regex": "replica"}]},
        {"url": "https://mimir.example.org/api/v1/push",
         "authorization": {"type": "Bearer", "credentials_file": "/etc/prometheus/secrets/remote-write-1.password"},
         "queue_config": {"capacity": 10000, "max_backoff": "10s"},
         "write_relabel_configs": [{"action": "labeldrop", "regex": "replica"},
                                   {"action": "drop", "source_labels": ["__name__"], "regex": "go_.*"}]},
    ]
    assert "s3cret" not in str(config) and "t0ken" not in str(config)
    assert pf.remote_write_secrets(targets) == {"remote-write-0": "s3cret", "remote-write-1": "t0ken"}


def test_keeping_the_replica_label_adds_no_relabeling():
    config = pf.remote_write_config(pf.remote_write_targets([{"url": "http://thanos:19291/api/v1/receive"}], []),
                                    "/s", [], {})
    assert config == [{"url": "http://thanos:19291/api/v1/receive", "queue_config": {}}]


@pytest.mark.parametrize(("entries", "expected"), [
    ([{"url": "http://a/", "basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t"}],
     "prometheus_remote_write[0] sets both basic_auth and bearer_token"),
    ([{"url": "http://a/", "tls": {}}], "prometheus_remote_write[0] has unknown keys ['tls']"),
    ([{"url": "http://a/", "queue_config": {"max_shards": "many"}}],
     "prometheus_remote_write[0].queue_config.max_shards must be a whole number >= 0"),
    ([{"url": "http://a/", "basic_auth": {"username": "u"}}], "prometheus_remote_write[0].basic_auth must be"),
    ([{"url": "http://a/", "name": "x"}, {"url": "http://b/", "name": "x"}], "prometheus_remote_write[1].name 'x'"),
    ("http://a/", "prometheus_remote_write must be a list"),
])
def test_remote_write_errors_name_the_entry(entries, expected):
    errors = pf.remote_write_errors(entries)
    assert any(expected in e for e in errors), errors


def test_remote_write_urls_and_durations_are_named_for_the_shared_grammars():
    entries = [{"url": "store:8428/api/v1/write", "queue_config": {"min_backoff": "1x"}, "remote_timeout": "30s"}]
    assert pf.remote_write_urls(entries) == {"prometheus_remote_write[0].url": "store:8428/api/v1/write"}
    assert pf.remote_write_durations(entries) == {"prometheus_remote_write[0].queue_config.min_backoff": "1x",
                                                  "prometheus_remote_write[0].remote_timeout": "30s"}


def test_duplicate_replica_values_are_reported_with_their_hosts():
    hostvars = {"m1": {}, "m2": {"prometheus_replica": "a"}, "m3": {}}
    replicas = pf.replicas(["m1", "m2", "m3"], hostvars, "m1", "a")
    assert replicas == {"m1": "a", "m2": "a", "m3": "m3"}
    assert pf.replica_errors(replicas, "prometheus_replica") == [
        'prometheus_replica must differ between the replicas of group prometheus: m1, m2 all have "a".']
    assert pf.replica_errors(pf.replicas(["m1", "m2"], {"m1": {}, "m2": {}}, "m1", "m1"), "prometheus_replica") == []
