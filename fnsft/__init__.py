"""fnsft: find functional networks of LLM neurons, lesion or preserve them, and fine-tune with them.

Names are imported on first use (PEP 562), so `import fnsft` stays fast and a script that only masks does not
pull in the training or export stacks.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "ARCHITECTURES": "architectures",
    "ArchitectureSpec": "architectures",
    "mlp_blocks": "architectures",
    "model_shape": "architectures",
    "DatasetFormatter": "data",
    "drift": "drift",
    "neuron_means": "means",
    "get_optimal_device": "devices",
    "convert_to_gguf": "export",
    "FunctionalNetworks": "functional_networks",
    "NeuronMask": "masking",
    "apply_mask": "masking",
    "build_mask": "masking",
    "masked": "masking",
    "load_model": "models",
    "setup_lora": "models",
    "ICAMask": "networks",
    "load_templates": "templates",
    "save_templates": "templates",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fnsft' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
