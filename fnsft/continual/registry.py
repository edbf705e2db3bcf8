"""Method names -> their classes (the names a suite config lists)."""

from __future__ import annotations

from .config import METHODS
from .methods import FullFineTune, Method
from .protection import (
    FixedNetworkProtection,
    NetworkProtection,
    NetworkProtectionOutside,
    RandomNeuronControl,
)
from .regularizers import EWC, LwF, OLoRA

CLASSES: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        FullFineTune,
        Method,
        EWC,
        LwF,
        OLoRA,
        NetworkProtection,
        NetworkProtectionOutside,
        RandomNeuronControl,
        FixedNetworkProtection,
    )
}
assert tuple(CLASSES) == METHODS, "every listed method has exactly one class"


def make_method(name: str, suite, seed: int) -> Method:
    return CLASSES[name](suite, seed)
