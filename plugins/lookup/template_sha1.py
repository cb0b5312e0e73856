"""Lookup `template_sha1`: the sha1 of a template rendered as the template module renders it.

Why: a role skips a template task where its read of the host (plugins/filter/host_state.py)
already shows the rendered file, which needs the rendered text's checksum on the controller.
ansible.builtin.template (the lookup) renders it alike but first deep-copies every task
variable (ansible-core marks that copy FIXME). With 5,000 app hosts and 20,000 probe targets in
the inventory that copy cost about 2 s per comparison; the template module (the action) only
copies the top level. This lookup runs the builtin lookup with the same shallow copy, so the
text is the same and the variables are shared, not copied: rendering reads them, never writes.

    when: not (_found | in_place('/etc/x/x.yml', 'root', 'x', '0640', lookup('template_sha1', 'x.yml.j2')))

Options as ansible.builtin.template's lookup (template_vars, delimiters, trim_blocks).
"""
from __future__ import annotations

import hashlib
from typing import Any

from ansible.plugins.lookup.template import LookupModule as TemplateLookup

DOCUMENTATION = """
name: template_sha1
short_description: sha1 of a template rendered as the template module renders it
description:
  - Renders each template like ansible.builtin.template (the lookup), sharing the task
    variables instead of deep-copying them, and returns the sha1 of each rendered text.
options:
  _terms:
    description: Template files, searched like ansible.builtin.template's.
  template_vars:
    description: Extra variables for the template.
    type: dict
    default: {}
  variable_start_string:
    description: Start of a print statement.
    type: str
    default: '{{'
  variable_end_string:
    description: End of a print statement.
    type: str
    default: '}}'
  comment_start_string:
    description: Start of a comment.
    type: str
    default: '{#'
  comment_end_string:
    description: End of a comment.
    type: str
    default: '#}'
  trim_blocks:
    description: Remove the first newline after a block.
    type: bool
    default: true
"""


class _SharedTaskVars(dict):  # type: ignore[type-arg]
    """The task variables; deep-copying them yields a top-level copy, as the template action's."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return dict(self)


class LookupModule(TemplateLookup):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
        rendered = super().run(terms, variables=_SharedTaskVars(variables or {}), **kwargs)  # type: ignore[no-untyped-call]
        # Encoded as the hash filter and the template module encode it (UTF-8).
        return [hashlib.sha1(str(text).encode("utf-8", "surrogateescape")).hexdigest() for text in rendered]
