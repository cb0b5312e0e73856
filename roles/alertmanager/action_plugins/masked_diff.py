"""masked_diff: the --diff of a YAML file whose content must not be shown (it holds secrets),
with every secret replaced by "<secret>" on both sides, as Alertmanager masks them itself.

Reads the current file on the host (a read: runs in check mode too), compares it with the new
content as data, and returns {changed, diff} with the file's path as header. Writes nothing.
A change of secrets only still reports changed, with a note instead of the values.

    - masked_diff:
        path: /etc/alertmanager/alertmanager.yml
        content: "{{ _alertmanager_config }}"      # the data the template writes
        secret_keys: [password, api_url, ...]      # masked wherever they occur
        secret_url_parents: [webhook_configs]     # `url` is a secret under these keys
"""
from __future__ import annotations

import base64
import json
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information
from ansible.plugins.action import ActionBase

MASK = "<secret>"


def mask(data: Any, keys: frozenset[str], url_parents: frozenset[str], parent: str = "") -> Any:
    """data with the values of secret keys replaced by MASK (empty values stay as they are)."""
    if isinstance(data, dict):
        return {k: (MASK if (k in keys or (k == "url" and parent in url_parents)) and v not in (None, "")
                    else mask(v, keys, url_parents, str(k)))
                for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v, keys, url_parents, parent) for v in data]
    return data


def dump(data: Any) -> str:
    return "" if data is None else yaml.safe_dump(data, default_flow_style=False, sort_keys=False, width=1000)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        path = str(args["path"])
        new = args.get("content")
        new = yaml.safe_load(new) if isinstance(new, str) else new
        keys = frozenset(str(k) for k in args.get("secret_keys") or [])
        url_parents = frozenset(str(k) for k in args.get("secret_url_parents") or [])

        read = self._execute_module(module_name="ansible.legacy.slurp", module_args={"src": path},
                                    task_vars=task_vars or {})
        old = yaml.safe_load(base64.b64decode(read["content"])) if "content" in read else None
        # Plain types, as the template renders them (to_json | from_json).
        new = json.loads(json.dumps(new)) if new is not None else None

        before, after = dump(mask(old, keys, url_parents)), dump(mask(new, keys, url_parents))
        result["changed"] = old != new
        if result["changed"] and before == after:
            after += "# secrets changed (not shown)\n"
        if result["changed"]:
            result["diff"] = {"before": before, "after": after, "before_header": path, "after_header": path}
        return result
