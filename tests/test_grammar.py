"""The component grammars of plugins/filter/monitoring_stack.py (URLs as Go's net/url and the
blackbox prober read them, Prometheus label names, Prometheus and Go durations), table-driven."""
from __future__ import annotations

import pytest

from filter_plugins import load_filter_plugin

ms = load_filter_plugin()

GOOD_URLS = [
    "http://app1:8000/health",
    "https://example.com/",
    "http://example.com",
    "HTTP://Example.COM:80/a/b?x=1&y=%20#frag",
    "http://10.0.0.5:9093/api/v2/alerts",
    "http://[::1]:9090/",
    "http://[fe80::1%25eth0]:80/",
    "http://user:p%40ss@host.example:8080/path",
    "http://my_host.internal/",
    "https://hooks.slack.com/services/T000/B000/XXXX",
    "http://example.com./",
    "http://bücher.example/",
]

# (URL, a piece of the reason): what Go's url.Parse refuses, or what parses but cannot be dialled.
BAD_URLS = [
    ("", "empty"),
    ("app1:8000/health", "scheme"),
    ("//app1/health", "no scheme"),
    ("ftp://example.com/", "scheme 'ftp'"),
    ("http:example.com", "names no host"),
    ("http:///path", "names no host"),
    ("http://host:99999/", "invalid port '99999'"),
    ("http://host:0/", "invalid port '0'"),
    ("http://host:8o/", "invalid port '8o'"),
    ("http://host:/", "port after the colon is empty"),
    ("http://ho st/", "white space"),
    ("http://host/a b", "white space"),
    ("http://host/\x7f", "control character"),
    ("http://ho\tst/", "control character"),
    ("http://ho{st/", "invalid character '{'"),
    ("http://ho|st/", "invalid character '|'"),
    ("http://host/%zz", "percent-escape"),
    ("http://host/path%2", "percent-escape"),
    ("http://host/#%zz", "percent-escape"),
    ("http://ho%41st/", "percent-escaped ASCII"),
    ("http://us{er@host/", "user info"),
    ("http://us%zzer@host/", "user info"),
    ("http://[::1/", "missing ']'"),
    ("http://[::1]x/", "follow the ]"),
    ("http://[zz::1]/", "not a valid IPv6"),
    ("http://a:b:80/", "IPv6"),
    ("http://-host/", "neither an IP address nor a DNS name"),
    ("http://host-.example/", "neither an IP address nor a DNS name"),
    ("http://a..b/", "neither an IP address nor a DNS name"),
    ("http://" + "a" * 64 + ".example/", "neither an IP address nor a DNS name"),
    ("http://999.1.1.1/", "not a valid IPv4"),
    ("http://1.2.3/", "not a valid IPv4"),
    ("http://host!/", "neither an IP address nor a DNS name"),
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_url_accepted(url):
    assert ms.url_problem(url) is None


@pytest.mark.parametrize("url, reason", BAD_URLS)
def test_url_refused_with_reason(url, reason):
    problem = ms.url_problem(url)
    assert problem is not None and reason in problem, problem


def test_url_scheme_restriction():
    assert "scheme 'http'" in ms.url_problem("http://host/", ("https",))
    assert ms.url_problem("https://host/", ("https",)) is None


def test_url_errors_name_the_variable_and_hide_secrets():
    errors = ms.url_errors({"alertmanager_receivers[0].slack_configs[0].api_url": "https://ho st/T0/secret-token"},
                           secret=True)
    assert len(errors) == 1
    assert errors[0].startswith("alertmanager_receivers[0].slack_configs[0].api_url must be an absolute")
    assert "secret-token" not in errors[0] and "value not shown" in errors[0]
    shown = ms.url_errors({"prometheus_web_external_url": "prometheus.internal"})
    assert shown == ["prometheus_web_external_url must be an absolute http/https URL with a host: it has no scheme "
                     '(must start with http:// or https://), got "prometheus.internal".']
    assert ms.url_errors({"x": ""}, allow_empty=True) == []
    assert len(ms.url_errors({"x": ""})) == 1


@pytest.mark.parametrize("value, reason", [
    ("app1:8000", None), ("10.0.0.1:22", None), ("[::1]:9093", None), ("host.example.:443", None),
    ("app1", "no :port"), ("app1:", "empty"), ("app1:99999", "invalid port"), ("app1:http", "invalid port"),
    ("::1:9093", "brackets"), ("[::1]9093", "[address]:port"), ("http://app1:80", "no scheme"),
    ("ho st:80", "no scheme, path or white space"), (":80", "host before the colon is empty"), ("-x:80", "DNS name"),
])
def test_host_port(value, reason):
    problem = ms.host_port_problem(value)
    assert (problem is None) if reason is None else (problem is not None and reason in problem), problem


@pytest.mark.parametrize("url, module, reason", [
    ("http://app1:8000/health", "http_2xx", None),
    ("https://example.com/", "https_2xx", None),
    ("http://example.com/", "https_2xx", "scheme 'http'"),
    ("http://host:99999/", "http_2xx", "invalid port '99999'"),
    ("http://ho st/", "http_2xx", "white space"),
    ("app1:9093", "tcp_connect", None),
    ("app1", "tcp_connect", "no :port"),
    ("10.0.0.1", "icmp", None),
    ("::1", "icmp", None),
    ("app1.example", "icmp", None),
    ("app1:80", "icmp", "bare host"),
    ("http://app1/", "icmp", "bare host"),
    ("[::1]", "icmp", "bare host"),
    ("1.1.1.1", "dns_udp", None),
    ("1.1.1.1:5353", "dns_udp", None),
    ("[::1]:53", "dns_udp", None),
    ("1.1.1.1:0", "dns_udp", "invalid port"),
    ("app1:50051", "grpc", None),
])
def test_probe_target_by_module(url, module, reason):
    problem = ms.probe_target_problem(url, module)
    assert (problem is None) if reason is None else (problem is not None and reason in problem), problem


def test_probe_target_errors_name_the_entry():
    modules = ["http_2xx", "tcp_connect"]
    targets = [
        {"url": "http://app1:8000/", "module": "http_2xx", "labels": {"service": "app"}},
        {"url": "http://app1:99999/", "module": "http_2xx"},
        {"url": "http://app2/", "module": "http_2xx", "labels": {"bad-name": "x"}},
        {"url": "http://app3/", "module": "http_2xx", "labels": {"replicas": 3}},
        {"url": "http://app1:8000/", "module": "http_2xx"},
    ]
    errors = ms.probe_target_errors(targets, modules)
    assert [e.split(" ", 1)[0] for e in errors] == [f"prometheus_probe_targets[{i}]" for i in (1, 2, 3, 4)]
    assert "invalid port '99999'" in errors[0]
    assert "'bad-name' is not a valid Prometheus label name" in errors[1]
    assert "label 'replicas' must have a string value" in errors[2]
    assert "duplicate of prometheus_probe_targets[0]" in errors[3]


@pytest.mark.parametrize("name, reason", [
    ("service", None), ("_x", None), ("env2", None), ("A_b", None),
    ("bad-name", "not a valid"), ("2fast", "not a valid"), ("", "not a valid"), ("ünï", "not a valid"),
    ("a.b", "not a valid"), ("__name__", "reserves"), ("__meta_x", "reserves"), (3, "not a valid"),
])
def test_label_name(name, reason):
    problem = ms.label_name_problem(name)
    assert (problem is None) if reason is None else (problem is not None and reason in problem), problem


def test_label_errors():
    assert ms.label_errors({"prometheus_external_labels": {"env": "lab", "site": "x"}}) == []
    assert ms.label_errors({"prometheus_external_labels": {}}) == []
    assert ms.label_errors({"prometheus_external_labels": {"env": True, "bad-name": "x", "__r": "y"}}) == [
        "prometheus_external_labels: label 'env' must have a string value (quote it), got true.",
        "prometheus_external_labels: 'bad-name' is not a valid Prometheus label name (letters, digits and _, "
        "not starting with a digit).",
        "prometheus_external_labels: '__r' starts with __, which Prometheus reserves for its own labels.",
    ]
    assert ms.label_errors({"prometheus_external_labels": ["env"]})[0].startswith(
        "prometheus_external_labels must be a mapping")


SECOND = 10**9


@pytest.mark.parametrize("value, nanoseconds", [
    ("0", 0), ("30s", 30 * SECOND), ("5m", 300 * SECOND), ("1h30m", 5400 * SECOND), ("2d", 172800 * SECOND),
    ("1y2w", (365 + 14) * 86400 * SECOND), ("1s500ms", 1500 * 10**6), ("0s", 0), ("15d", 15 * 86400 * SECOND),
    ("1 m", None), ("", None), ("5", None), ("-5d", None), ("1.5h", None), ("30m1h", None), ("5m5m", None),
    ("1M", None), ("5 minutes", None), ("300y", None), (True, None), (30, None), (None, None),
])
def test_prometheus_duration(value, nanoseconds):
    assert ms.duration_nanoseconds(value) == nanoseconds


@pytest.mark.parametrize("value, nanoseconds", [
    ("0", 0), ("120h", 120 * 3600 * SECOND), ("1.5h", 5400 * SECOND), ("300ms", 3 * 10**8), ("5m30s", 330 * SECOND),
    ("-5m", -300 * SECOND), ("1h1h", 7200 * SECOND), (".5s", SECOND // 2),
    ("5d", None), ("1w", None), ("", None), ("5", None), ("1 m", None), (".s", None), ("3000000h", None),
])
def test_go_duration(value, nanoseconds):
    assert ms.duration_nanoseconds(value, "go") == nanoseconds


def test_duration_errors_name_the_variable():
    assert ms.duration_errors({"alertmanager_route_group_wait": "1 m"}) == [
        'alertmanager_route_group_wait must be a Prometheus duration like 30s, 5m, 1h30m or 2d (units y w d h m s ms, '
        'largest first, whole numbers), got "1 m".']
    assert ms.duration_errors({"alertmanager_data_retention": "5d"}, "go")[0].startswith(
        "alertmanager_data_retention must be a Go duration")
    assert ms.duration_errors({"alertmanager_route_repeat_interval": "0s"}, positive=True) == [
        'alertmanager_route_repeat_interval must be a duration greater than zero, got "0s".']
    assert ms.duration_errors({"a": "30s", "b": "0"}) == []


@pytest.mark.parametrize("url, path", [
    ("https://example.org/alertmanager/", "/alertmanager/"), ("http://host", ""), ("http://host:9090/p?q=1#f", "/p"),
    ("", ""), (None, ""), ("http://prometheus.internal:99999/prom/", "/prom/"), ("host/path", ""),
])
def test_url_path_never_raises(url, path):
    # Route prefixes are derived (and published) before validation names a bad URL's variable.
    assert ms.url_path(url) == path
