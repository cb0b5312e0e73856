"""Checks of the Alertmanager receivers and route tree, run before anything changes.

Each filter returns a list of messages (empty = fine). The messages name the variable, the
entry (e.g. alertmanager_routes[0].routes[1]) and the offending name, never a receiver's
settings: those may hold secrets.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

from ansible.errors import AnsibleFilterError


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _names(items: object, what: str) -> list[str]:
    if not _is_list(items):
        raise AnsibleFilterError(f"{what} must be a list")
    return [str(item["name"]) for item in items if isinstance(item, Mapping) and item.get("name")]


def receiver_errors(receivers: object, variable: str = "alertmanager_receivers") -> list[str]:
    """Every receiver is a mapping with a non-empty name, and names are unique."""
    if not _is_list(receivers):
        return [f"{variable} must be a list of receivers, got {type(receivers).__name__}"]
    errors: list[str] = []
    seen: dict[str, int] = {}
    for index, receiver in enumerate(receivers):
        entry = f"{variable}[{index}]"
        if not isinstance(receiver, Mapping):
            errors.append(f"{entry} must be a mapping with at least a name")
            continue
        name = receiver.get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"{entry} has no name (every receiver needs a unique, non-empty name)")
            continue
        if name in seen:
            errors.append(f"{entry}: receiver name {name!r} is already used by {variable}[{seen[name]}]; "
                          "names must be unique")
        else:
            seen[name] = index
    return errors


def route_errors(route: object, receivers: object, time_intervals: object = (), routes_var: str = "alertmanager_routes",
                 receiver_var: str = "alertmanager_route.receiver") -> list[str]:
    """Walk the route tree recursively: every referenced receiver / time interval exists.

    route: the root route (alertmanager's own schema). receivers and time_intervals: the lists
    of definitions (only their names are used). routes_var / receiver_var: the variables the
    root's child routes and receiver came from, for the messages.
    """
    receiver_names = set(_names(receivers, "alertmanager_receivers"))
    interval_names = set(_names(time_intervals or [], "alertmanager_time_intervals"))
    defined = ", ".join(sorted(receiver_names)) or "none"
    errors: list[str] = []

    def check_receiver(receiver: object, where: str) -> None:
        if str(receiver) not in receiver_names:
            errors.append(f"{where} references receiver {str(receiver)!r}, which is not defined in "
                          f"alertmanager_receivers (defined: {defined})")

    def walk(children: object, path: str) -> None:
        if not _is_list(children):
            errors.append(f"{path} must be a list of routes")
            return
        for index, child in enumerate(children):
            entry = f"{path}[{index}]"
            if not isinstance(child, Mapping):
                errors.append(f"{entry} must be a mapping (a route)")
                continue
            if child.get("receiver") is not None:
                check_receiver(child["receiver"], entry)
            for key in ("mute_time_intervals", "active_time_intervals"):
                names = child.get(key) or []
                if not _is_list(names):
                    errors.append(f"{entry}.{key} must be a list of time interval names")
                    continue
                for name in names:
                    if str(name) not in interval_names:
                        errors.append(
                            f"{entry}.{key} references time interval {str(name)!r}, which is not defined in "
                            f"alertmanager_time_intervals (defined: {', '.join(sorted(interval_names)) or 'none'})")
            if "routes" in child:
                walk(child["routes"], f"{entry}.routes")

    if not isinstance(route, Mapping):
        return ["alertmanager_route must be a mapping (the root route)"]
    if not route.get("receiver"):
        errors.append(f"{receiver_var} is empty: the root route needs a receiver")
    else:
        check_receiver(route["receiver"], receiver_var)
    walk(route.get("routes") or [], routes_var)
    return errors


_ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")
# Keys of a receiver's *_configs entries and of the global section that Alertmanager parses as
# URLs (config.URL / SecretURL: http or https, with a host).
_URL_KEYS = ("url", "api_url", "webhook_url")


def route_durations(routes: object, routes_var: str = "alertmanager_routes") -> dict[str, Any]:
    """{path of the setting: value} for group_wait, group_interval and repeat_interval of every
    child route, nested as deep as they go, for the shared duration_errors filter."""
    found: dict[str, Any] = {}

    def walk(children: object, path: str) -> None:
        for index, child in enumerate(children if _is_list(children) else []):
            if isinstance(child, Mapping):
                entry = f"{path}[{index}]"
                found.update({f"{entry}.{key}": child[key] for key in _ROUTE_DURATIONS if key in child})
                walk(child.get("routes") or [], f"{entry}.routes")

    walk(routes, routes_var)
    return found


def receiver_urls(receivers: object, global_config: object = None) -> dict[str, Any]:
    """{path of the setting: URL} of every URL Alertmanager parses in the receivers and the
    global section (slack_api_url, webhook url, pagerduty url, ...), for the shared url_errors
    filter. The values may carry tokens: the messages must not show them."""
    found: dict[str, Any] = {}
    if isinstance(global_config, Mapping):
        found.update({f"alertmanager_global.{key}": value for key, value in global_config.items()
                      if str(key).endswith("_url") and value not in ("", None)})
    for index, receiver in enumerate(receivers if _is_list(receivers) else []):
        if not isinstance(receiver, Mapping):
            continue
        for kind, configs in receiver.items():
            if not str(kind).endswith("_configs") or not _is_list(configs):
                continue
            for position, config in enumerate(configs):
                if isinstance(config, Mapping):
                    found.update({f"alertmanager_receivers[{index}].{kind}[{position}].{key}": config[key]
                                  for key in _URL_KEYS if config.get(key) not in ("", None)})
    return found


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "alertmanager_receiver_urls": receiver_urls,
            "alertmanager_route_durations": route_durations,
            "alertmanager_receiver_errors": receiver_errors,
            "alertmanager_route_errors": route_errors,
        }
