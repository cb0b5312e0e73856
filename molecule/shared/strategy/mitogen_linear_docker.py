"""Test harness only: Mitogen's linear strategy, also for community.docker.docker.

Molecule's docker driver names the connection by its FQCN (community.docker.docker), and
Mitogen redirects only short names ("docker") to its own transport. This strategy maps the FQCN
to the short name, so each container keeps one Python interpreter for the whole run instead of a
`docker exec` and a fresh interpreter per task. That halves the CPU a playbook run costs here
(docs/performance.md, "The test suite"); both lanes of `make test` share two cores.

The roles do not depend on it: the full-stack scenario converges, re-runs and dry-runs with
Ansible's default strategy (molecule/default/molecule.yml).
"""
from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy as mitogen_strategy
from ansible.playbook.play_context import PlayContext

_SHORT_NAMES = {"community.docker.docker": "docker"}

# Molecule's create and destroy playbooks poll async docker tasks on localhost; under Mitogen's
# local transport that poll never ends. localhost keeps Ansible's own local connection.
mitogen_strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
    name for name in mitogen_strategy.REDIRECTED_CONNECTION_PLUGINS if name != "local")

_redirect = mitogen_strategy.wrap_connection_loader__get_with_context


def _get_with_context(name, *args, **kwargs):
    if args and isinstance(args[0], PlayContext) and args[0].connection in _SHORT_NAMES:
        args[0].connection = _SHORT_NAMES[args[0].connection]
    return _redirect(_SHORT_NAMES.get(name, name), *args, **kwargs)


# Read when the strategy installs its loader wrappers (StrategyMixin), so patch the module.
mitogen_strategy.wrap_connection_loader__get_with_context = _get_with_context

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(mitogen_strategy.StrategyMixin, Base):
    pass
