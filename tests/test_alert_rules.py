"""Tests for the Prometheus alert rule templates (roles/prometheus/templates/rules/).

The templates are rendered with tests/rules/render.py (same Jinja delimiters as the role's
ansible.builtin.template call, values from roles/prometheus/defaults/main/alert_rules.yml), then
checked with promtool and unit-tested with the promtool tests in tests/rules/*.test.yml.

promtool is taken from $PROMTOOL, else from PATH, else extracted from the controller's artifact
cache (~/.cache/monitoring-stack/prometheus/<version>/). Without any of these the promtool tests
are skipped, with the reason in the pytest summary (run with -rs).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
import yaml

TESTS_DIR = Path(__file__).resolve().parent
RULE_TESTS_DIR = TESTS_DIR / "rules"


SEVERITIES = {"critical", "warning"}
TEMPLATE_MARKERS = ("[[", "]]", "[%", "%]")


def _load_render_module():
    spec = importlib.util.spec_from_file_location("alert_rules_render", RULE_TESTS_DIR / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render_module()

TEMPLATES = render.template_names()
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.test.yml"))


# --- fixtures ------------------------------------------------------------------------------



@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory) -> Path:
    """Rules rendered with the defaults, with the promtool test files copied next to them."""
    out = tmp_path_factory.mktemp("rules")
    render.render_rules(out)
    for test_file in RULE_TEST_FILES:
        shutil.copy(test_file, out / test_file.name)
    return out


def _rule_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.rules.yml"))


def _alert_rules(rule_file: Path) -> list[dict]:
    doc = yaml.safe_load(rule_file.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


# --- rendering -----------------------------------------------------------------------------

def test_templates_exist():
    assert TEMPLATES, f"no *.rules.yml.j2 in {render.TEMPLATE_DIR}"
    assert RULE_TEST_FILES, f"no *.test.yml in {RULE_TESTS_DIR}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_rendered_file_has_no_template_leftovers(rendered_dir, template):
    text = (rendered_dir / template.removesuffix(".j2")).read_text()
    for marker in TEMPLATE_MARKERS:
        assert marker not in text, f"{template}: {marker!r} left after rendering"
    assert "{{ $labels" in text or "{{ $value" in text, "Prometheus templating must pass through"


def test_template_variables_match_defaults():
    """Every [[ variable ]] has a default, and every default is used by some template."""
    env = render.make_env()
    used: set[str] = set()
    for name in TEMPLATES:
        source = env.loader.get_source(env, name)[0]
        used |= jinja2.meta.find_undeclared_variables(env.parse(source))
    defaults = set(render.load_defaults())
    assert used - defaults == set(), "variables without a default in alert_rules.yml"
    assert defaults - used == set(), "defaults not used by any template"


def test_undefined_variable_fails_rendering(tmp_path):
    (tmp_path / "broken.rules.yml.j2").write_text("for: [[ no_such_variable ]]\n")
    with pytest.raises(jinja2.UndefinedError):
        render.render_rules(tmp_path / "out", template_dir=tmp_path)


def test_overrides_are_applied(tmp_path):
    render.render_rules(tmp_path, {"prometheus_alert_app_down_for": "15s",
                                   "prometheus_alert_error_ratio_threshold": 0.2})
    rules = {rule["alert"]: rule for rule in _alert_rules(tmp_path / "app.rules.yml")}
    assert rules["AppDown"]["for"] == "15s"
    assert "> 0.2\n" in rules["AppHighErrorRatio"]["expr"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_rules_are_well_formed(rendered_dir, template):
    for rule in _alert_rules(rendered_dir / template.removesuffix(".j2")):
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no 'for'"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: bad severity"
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), \
            f"{name}: summary and description annotations are required"


def test_ansible_template_module_renders_identically(rendered_dir, tmp_path):
    """The role's ansible.builtin.template call (same delimiters) gives byte-identical files."""
    playbook_bin = Path(sys.executable).with_name("ansible-playbook")
    if not playbook_bin.exists():
        playbook_bin = shutil.which("ansible-playbook")
        if not playbook_bin:
            pytest.skip("ansible-playbook not installed")
    out = tmp_path / "out"
    out.mkdir()
    template_args = {
        "variable_start_string": "[[", "variable_end_string": "]]",
        "block_start_string": "[%", "block_end_string": "%]",
    }
    tasks = [
        {"ansible.builtin.template": {"src": str(render.TEMPLATE_DIR / name),
                                      "dest": str(out / name.removesuffix(".j2")), **template_args}}
        for name in TEMPLATES
    ]
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(render.DEFAULTS_FILE)], "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # isolate from any repo/user config
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
           "ANSIBLE_HOME": str(tmp_path / "ansible"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible" / "tmp"),
           "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible" / "remote"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    result = subprocess.run(
        [str(playbook_bin), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(tmp_path / "play.yml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in TEMPLATES:
        rendered = name.removesuffix(".j2")
        assert (out / rendered).read_text() == (rendered_dir / rendered).read_text(), rendered


# --- promtool ------------------------------------------------------------------------------

def test_promtool_check_rules(promtool, rendered_dir):
    files = [p.name for p in _rule_files(rendered_dir)]
    result = _run([promtool, "check", "rules", *files], rendered_dir)
    assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}{result.stderr}"


def test_promtool_check_rules_with_lab_overrides(promtool, tmp_path):
    """Short 'for' values as used by the lab/test inventories still give valid rules."""
    short = {name: "30s" for name in render.load_defaults() if name.endswith("_for")}
    render.render_rules(tmp_path, short)
    files = [p.name for p in _rule_files(tmp_path)]
    result = _run([promtool, "check", "rules", *files], tmp_path)
    assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}{result.stderr}"


def test_promtool_unit_tests(promtool, rendered_dir):
    files = [p.name for p in RULE_TEST_FILES]
    result = _run([promtool, "test", "rules", *files], rendered_dir)
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}{result.stderr}"


# --- coverage of the promtool tests ---------------------------------------------------------

def _test_cases() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """alertname -> test names with firing / with no expected alerts at some eval_time."""
    firing: dict[str, list[str]] = {}
    silent: dict[str, list[str]] = {}
    for test_file in RULE_TEST_FILES:
        doc = yaml.safe_load(test_file.read_text())
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []):
                bucket = firing if case.get("exp_alerts") else silent
                bucket.setdefault(case["alertname"], []).append(f"{test_file.name}: {test.get('name')}")
    return firing, silent


def test_every_alert_has_firing_and_silent_test(rendered_dir):
    alerts = {rule["alert"] for path in _rule_files(rendered_dir) for rule in _alert_rules(path)}
    assert alerts
    firing, silent = _test_cases()
    assert sorted(alerts - set(firing)) == [], "alerts without a promtool test where they fire"
    assert sorted(alerts - set(silent)) == [], "alerts without a promtool test where they must not fire"
    assert sorted((set(firing) | set(silent)) - alerts) == [], "tests for alerts that do not exist"


def test_firing_cases_check_severity_and_summary():
    for test_file in RULE_TEST_FILES:
        doc = yaml.safe_load(test_file.read_text())
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    where = f"{test_file.name}: {test.get('name')}: {case['alertname']}"
                    assert alert.get("exp_labels", {}).get("severity") in SEVERITIES, where
                    assert alert.get("exp_annotations", {}).get("summary"), where


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_rule_test_files_reference_rendered_rules(test_file):
    rule_files = yaml.safe_load(test_file.read_text()).get("rule_files", [])
    rendered = {name.removesuffix(".j2") for name in TEMPLATES}
    assert rule_files and set(rule_files) <= rendered, f"{test_file.name}: rule_files {rule_files}"
