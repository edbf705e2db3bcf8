"""A subpackage's public names, imported on first use (PEP 562).

Each stage's `__init__` lists its surface here instead of importing its modules: `import fnsft.masking` stays
cheap, and a stage that imports another stage's module never runs that stage's other modules while it is itself
half imported (the stages use each other's modules both ways: discovery masks, masking reads networks).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_surface(
    package: str, modules: dict[str, tuple[str, ...]]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """(`__all__`, `__getattr__`, `__dir__`) for a package whose names live in the given modules (named relative
    to the package: "_loading" is its own module, ".choices" the parent's)."""
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home[name]}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return sorted(home), __getattr__, __dir__
