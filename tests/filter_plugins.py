"""Loads plugins/filter/<name>.py as a plain module, for tests of the filters without Ansible.

A module of its own, not conftest.py: pytest also loads the repository's root conftest.py and
app_src/tests/conftest.py, and which of them `import conftest` finds depends on collection order."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_filter_plugin(name: str = "monitoring_stack", role: str | None = None):
    """plugins/filter/<name>.py (or, with role, roles/<role>/filter_plugins/<name>.py) as a
    module, for tests of the filters without Ansible."""
    directory = REPO / "roles" / role / "filter_plugins" if role else REPO / "plugins" / "filter"
    key = f"{role}_role_{name}" if role else name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, directory / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
