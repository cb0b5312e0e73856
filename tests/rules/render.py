#!/usr/bin/env python3
"""Render the Prometheus alert rule templates the way the prometheus role does.

The templates in roles/prometheus/templates/rules/*.rules.yml.j2 use custom Jinja delimiters so
that Prometheus' own alert templating ({{ $labels.instance }}, {{ $value }}) needs no escaping:

    variables  [[ prometheus_alert_error_ratio_threshold ]]
    blocks     [% if ... %] ... [% endif %]

The role renders them through monitoring-stack.rules.yml.j2, whose first line sets the same
delimiters for Ansible (a `#jinja2:` header, so the template module and the template lookup
render alike); a template rendered on its own needs them as options, e.g.

    ansible.builtin.template:
      src: "rules/{{ item }}.j2"
      dest: "..."
      variable_start_string: "[["
      variable_end_string: "]]"
      block_start_string: "[%"
      block_end_string: "%]"

Values come from roles/prometheus/defaults/main/alert_rules.yml, optionally overridden.

Importable helper (``render_rules``) and CLI:

    tests/rules/render.py OUT_DIR [--vars extra.yml ...] [-e key=value ...]
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO_ROOT / "roles" / "prometheus" / "templates" / "rules"
DEFAULTS_FILE = REPO_ROOT / "roles" / "prometheus" / "defaults" / "main" / "alert_rules.yml"
TEMPLATE_SUFFIX = ".j2"


def make_env(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    """A Jinja environment with the delimiters the role passes to ansible.builtin.template."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of variables")
    return data


def template_names(template_dir: Path = TEMPLATE_DIR) -> list[str]:
    """File names of all rule templates, sorted."""
    return sorted(p.name for p in template_dir.glob(f"*.rules.yml{TEMPLATE_SUFFIX}"))


def render_rules(
    out_dir: Path | str,
    overrides: Mapping[str, Any] | None = None,
    template_dir: Path = TEMPLATE_DIR,
    defaults_file: Path = DEFAULTS_FILE,
) -> list[Path]:
    """Render every rule template into out_dir (name without .j2); return the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    variables = {**load_defaults(defaults_file), **(overrides or {})}
    env = make_env(template_dir)
    written = []
    for name in template_names(template_dir):
        target = out / name[: -len(TEMPLATE_SUFFIX)]
        target.write_text(env.get_template(name).render(variables))
        written.append(target)
    return written


def _parse_assignment(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, yaml.safe_load(value)  # "0.1" -> 0.1, "30s" -> "30s", like ansible -e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the *.rules.yml files to")
    parser.add_argument("--vars", type=Path, action="append", default=[], metavar="FILE",
                        help="YAML file with variables overriding the defaults (repeatable)")
    parser.add_argument("-e", "--extra-var", type=_parse_assignment, action="append", default=[],
                        metavar="KEY=VALUE", help="override one variable (repeatable)")
    args = parser.parse_args(argv)

    overrides: dict[str, Any] = {}
    for path in args.vars:
        overrides.update(load_defaults(path))
    overrides.update(dict(args.extra_var))
    try:
        written = render_rules(args.out_dir, overrides)
    except jinja2.TemplateError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
