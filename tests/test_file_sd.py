"""The file_sd files of the prometheus role (roles/prometheus/filter_plugins/prometheus.py):
one target group per line, read back by a YAML parser as the groups they were made from."""
from __future__ import annotations

import yaml

from filter_plugins import load_filter_plugin

pf = load_filter_plugin("prometheus", role="prometheus")


def test_probe_targets_render_one_group_per_line_and_parse_back():
    targets = [{"url": "http://app1:8000/health", "module": "http_2xx", "labels": {"team": "ops", "tier": 1}},
               {"url": "db1:5432", "module": "tcp_connect"},
               {"url": "https://ünï.internal/", "module": "https_internal"}]
    groups = pf.probe_file_sd(targets)
    text = pf.probe_file_sd_text(targets)
    assert text == pf.file_sd_text(groups)
    assert len(text.splitlines()) == 3
    assert yaml.safe_load(text) == groups
    assert groups[0] == {"targets": ["http://app1:8000/health"],
                         "labels": {"__param_module": "http_2xx", "team": "ops", "tier": "1"}}
    assert "ünï" in text  # readable in a diff, not \\u-escaped


def test_no_targets_is_an_empty_list():
    assert yaml.safe_load(pf.file_sd_text([])) == []
    assert yaml.safe_load(pf.probe_file_sd_text([])) == []
