"""Values that two roles must agree on, checked without any host."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def test_prometheus_knows_the_blackbox_roles_default_modules():
    """prometheus_blackbox_modules falls back to these names when the inventory sets no
    blackbox_modules: they must be exactly the blackbox role's default modules."""
    blackbox = list(_yaml("roles/blackbox/defaults/main.yml")["blackbox_modules"])
    prometheus = _yaml("roles/prometheus/vars/main.yml")["_prometheus_blackbox_role_modules"]
    assert prometheus == blackbox
