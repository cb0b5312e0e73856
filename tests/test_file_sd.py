"""The file_sd files of the prometheus role (plugins/filter/monitoring_stack.py: file_sd_text,
probe_targets_read): one target group per line, read back by a YAML parser as the groups they
were made from; the probe list's check and text come from one read of it."""
from __future__ import annotations

import yaml

from filter_plugins import load_filter_plugin

ms = load_filter_plugin()


def test_probe_targets_render_one_group_per_line_and_parse_back():
    targets = [{"url": "http://app1:8000/health", "module": "http_2xx", "labels": {"team": "ops", "tier": "1"}},
               {"url": "db1:5432", "module": "tcp_connect"},
               {"url": "https://ünï.internal/", "module": "https_internal"}]
    read = ms.probe_targets_read(targets, ["http_2xx", "tcp_connect", "https_internal"])
    assert read["errors"] == []
    text = read["file_sd_text"]
    assert len(text.splitlines()) == 3
    assert yaml.safe_load(text) == [
        {"targets": ["http://app1:8000/health"], "labels": {"__param_module": "http_2xx", "team": "ops", "tier": "1"}},
        {"targets": ["db1:5432"], "labels": {"__param_module": "tcp_connect"}},
        {"targets": ["https://ünï.internal/"], "labels": {"__param_module": "https_internal"}},
    ]
    assert "ünï" in text  # readable in a diff, not \\u-escaped


def test_a_bad_probe_list_yields_its_errors_and_no_text():
    read = ms.probe_targets_read([{"url": "db1:5432", "module": "tcp_connect"}, {"url": "db1:5432", "module": "icmp"}],
                                 ["tcp_connect"])
    assert read == {"errors": ["prometheus_probe_targets[1] (url 'db1:5432', module 'icmp'): unknown module 'icmp' "
                               "(known: tcp_connect: the modules the blackbox exporter publishes, "
                               "blackbox_modules + blackbox_extra_modules)"],
                    "file_sd_text": ""}
    assert ms.probe_targets_read("db1:5432", ["tcp_connect"])["errors"] == [
        "prometheus_probe_targets must be a list of {url, module, labels}"]


def test_no_targets_is_an_empty_list():
    assert yaml.safe_load(ms.file_sd_text([])) == []
    assert ms.probe_targets_read([], ["http_2xx"]) == {"errors": [], "file_sd_text": "[]"}
