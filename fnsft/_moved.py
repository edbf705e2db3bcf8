"""Old module paths that the README once told users to import, kept importable for one release (0.2 removes them).

Issue 27 moved every module into its stage's subpackage. `from fnsft.integrations import network_training` still
works, with a DeprecationWarning that names the new place; nothing else of the old flat layout is kept.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "fnsft.card_pass": "fnsft.analysis._card_passes",
    "fnsft.cards": "fnsft.networks._cards",
    "fnsft.evaluation": "fnsft.analysis._evaluation",
    "fnsft.hook_names": "fnsft.models._hook_names",
    "fnsft.integrations": "fnsft.training._integrations",
    "fnsft.run_status": "fnsft.training._run_status",
}
SURFACES = {new: new.rpartition(".")[0] for new in MOVED.values()}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and gives a module that reads every name from the module's new place."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved: import its names from {SURFACES[new]} (this old path goes in fnsft 0.2)",
            DeprecationWarning,
            stacklevel=2,
        )
        target = importlib.import_module(new)
        module.__getattr__ = lambda name: getattr(target, name)


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(
            0, MovedModules()
        )  # before an editable install's finder, which may know an old file
