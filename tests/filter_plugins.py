"""Loads plugins/filter/<name>.py as a plain module, for tests of the filters without Ansible.

A module of its own, not conftest.py: pytest also loads the repository's root conftest.py and
app_src/tests/conftest.py, and which of them `import conftest` finds depends on collection order."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_filter_plugin(name: str = "monitoring_stack"):
    """plugins/filter/<name>.py as a module, for tests of the filters without Ansible."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "plugins" / "filter" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
