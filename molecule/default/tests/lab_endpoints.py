"""How the tests reach the lab's endpoints in its secure shape (inventories/lab): HTTPS verified
against the lab's CA, which the pki role installs on every host, and basic auth as the lab's
user with the password the lab generated on the controller (where scripts/lab.sh tells users
to read it)."""
from __future__ import annotations

from conftest import ARTIFACT_CACHE, curl_command

CA_FILE = "/etc/monitoring-stack/tls/ca.crt"
USER = "lab"
SECRETS = ARTIFACT_CACHE / "lab-secrets"
# The lab's secret file of each component, by the name its units / tests use.
PORTS = {"prometheus": 9090, "alertmanager": 9093, "pushgateway": 9091, "blackbox": 9115, "node_exporter": 9100, "app": 8000}


def password(component: str) -> str:
    return (SECRETS / f"{component}.{USER}").read_text().strip()


def url(component: str, address: str, path: str = "") -> str:
    """https://<address><path>; an address without a port gets the component's lab port."""
    return f"https://{address if ':' in address else f'{address}:{PORTS[component]}'}{path}"


def curl(component: str, address: str, path: str = "", options: str = "-sf", auth: bool = True,
         ca_file: str = CA_FILE) -> str:
    """A curl command line for `path` of `component` at `address` that trusts the lab's CA and
    (with auth) presents the lab user's credentials; `address` may be a shell expression
    (conftest.curl_command)."""
    if not auth:
        return curl_command(url(component, address, path), ca_file, options=options)
    return curl_command(url(component, address, path), ca_file, USER, password(component), options=options)
