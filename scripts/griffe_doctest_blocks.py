"""A griffe extension for the docs site (mkdocs.yml names it under mkdocstrings' python handler).

Docstring examples (`>>>` blocks, run as doctests by tests/test_doctests.py) are shown as Python console code,
not read as Markdown (where `>>>` is a quote and `x[0][-1]` a link). And the special attributes that inspecting a
class or module finds (`__doc__`, `__dict__`, `__file__`...) are left out of the reference."""

from __future__ import annotations

from typing import Any

import griffe


def fence_examples(text: str) -> str:
    """`text` with each `>>>` block (its prompts, continuations and output, up to a blank line) fenced."""
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        stripped = lines[index].lstrip()
        if not stripped.startswith(">>>"):
            out.append(lines[index])
            index += 1
            continue
        indent = lines[index][: len(lines[index]) - len(stripped)]
        out.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            out.append(lines[index])
            index += 1
        out.append(f"{indent}```")
    return "\n".join(out)


def is_special_attribute(member: griffe.Object | griffe.Alias) -> bool:
    special = member.name.startswith("__") and member.name.endswith("__")
    return special and not member.is_alias and member.is_attribute  # an alias's kind would need resolving


class DoctestBlocks(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_examples(obj.docstring.value)
        if obj.is_class or obj.is_module:
            for name in [name for name, member in obj.members.items() if is_special_attribute(member)]:
                del obj.members[name]
