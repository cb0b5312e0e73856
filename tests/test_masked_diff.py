"""The --diff of alertmanager.yml masks every secret (roles/alertmanager/action_plugins)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "masked_diff", REPO / "roles/alertmanager/action_plugins/masked_diff.py")
assert _spec and _spec.loader
masked_diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(masked_diff)

ROLE_VARS = yaml.safe_load((REPO / "roles/alertmanager/vars/main.yml").read_text())
KEYS = frozenset(ROLE_VARS["_alertmanager_secret_keys"])
URL_PARENTS = frozenset(ROLE_VARS["_alertmanager_secret_url_parents"])


def test_every_secret_setting_is_masked_and_nothing_else():
    config = {
        "global": {"smtp_auth_password": "SECRET-1", "slack_api_url": "https://hooks.example.com/SECRET-2", "resolve_timeout": "5m"},
        "route": {"receiver": "team", "group_by": ["alertname"]},
        "receivers": [{
            "name": "team",
            "webhook_configs": [{"url": "http://hook.example.com/?token=SECRET-3", "send_resolved": True,
                                 "http_config": {"basic_auth": {"username": "am", "password": "SECRET-4"},
                                                 "authorization": {"credentials": "SECRET-5"}}}],
            "slack_configs": [{"api_url": "https://hooks.example.com/SECRET-6", "channel": "#alerts"}],
            "pagerduty_configs": [{"routing_key": "SECRET-7", "url": "https://events.example.com/v2/enqueue"}],
            "email_configs": [{"to": "ops@example.com", "auth_password": ""}],
        }],
    }
    masked = masked_diff.dump(masked_diff.mask(config, KEYS, URL_PARENTS))
    assert "SECRET-" not in masked, masked
    data = yaml.safe_load(masked)
    receiver = data["receivers"][0]
    assert receiver["webhook_configs"][0]["url"] == "<secret>"
    assert receiver["webhook_configs"][0]["http_config"]["basic_auth"] == {"username": "am", "password": "<secret>"}
    # Not secrets: shown as they are (an empty password stays empty: nothing to hide).
    assert receiver["webhook_configs"][0]["send_resolved"] is True
    assert receiver["pagerduty_configs"][0]["url"] == "https://events.example.com/v2/enqueue"
    assert receiver["slack_configs"][0]["channel"] == "#alerts"
    assert receiver["email_configs"][0] == {"to": "ops@example.com", "auth_password": ""}
    assert data["global"]["resolve_timeout"] == "5m" and data["route"]["group_by"] == ["alertname"]
