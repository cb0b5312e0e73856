"""Filters of the blackbox role: input checks that argument_specs cannot express."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


def blackbox_module_errors(modules: Mapping[str, Any] | None, probers: list[str]) -> list[str]:
    """One message per module without a known prober, naming the module and the variables."""
    errors: list[str] = []
    for name, module in (modules or {}).items():
        prober = module.get("prober") if isinstance(module, dict) else None
        if prober not in probers:
            got = (prober or "no prober") if isinstance(module, dict) else json.dumps(module, default=str)
            errors.append(f"blackbox module {json.dumps(name)} (blackbox_modules / blackbox_extra_modules) needs "
                          f"a prober out of {', '.join(probers)}, got {got}.")
    return errors


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"blackbox_module_errors": blackbox_module_errors}
