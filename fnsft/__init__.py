"""fnsft: find functional networks of LLM neurons, lesion or preserve them, and fine-tune with them.

Names are imported on first use (PEP 562), so `import fnsft` stays fast and a script that only masks does not
pull in the training or export stacks. One name per job: discovery (ICAMask, FunctionalNetworks), masking
(NetworkSelection, masked, apply_mask), evaluation (measure_effect) and fine-tuning (train, TrainingConfig);
building blocks such as `fnsft.masking.build_mask` or `fnsft.models.mlp_blocks` stay on their stage's surface.
"""

from __future__ import annotations

import importlib

from ._moved import install

__version__ = "0.1.0"
install()  # old module paths the README once named, for one release

_EXPORTS = {
    # models
    "load_model": "models",
    "setup_lora": "models",
    "get_optimal_device": "models",
    "model_shape": "models",
    "ArchitectureSpec": "models",
    "convert_to_gguf": "models",
    # discovery
    "ICAMask": "discovery",
    "DiscoverySettings": "discovery",
    "FunctionalNetworks": "networks",
    "load_labelled_texts": "data",
    "load_templates": "networks",
    "save_templates": "networks",
    "drift": "analysis",
    "neuron_means": "discovery",
    # masking and evaluation
    "NetworkSelection": "masking",
    "NeuronMask": "masking",
    "apply_mask": "masking",
    "masked": "masking",
    "measure_effect": "analysis",
    # fine-tuning
    "DatasetFormatter": "data",
    "TrainingConfig": "training",
    "train": "training",
    "load_adapter": "training",
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
