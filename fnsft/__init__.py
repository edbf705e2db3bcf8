"""fnsft: find functional networks of LLM neurons, lesion or preserve them, and fine-tune with them.

Names are imported on first use (PEP 562), so `import fnsft` stays fast and a script that only masks does not
pull in the training or export stacks. One name per job: discovery (ICAMask, FunctionalNetworks), masking
(NetworkSelection, masked, apply_mask), evaluation (measure_effect) and fine-tuning (train, TrainingConfig);
building blocks such as `fnsft.masking.build_mask` or `fnsft.architectures.mlp_blocks` stay in their modules.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # models
    "load_model": "models",
    "setup_lora": "models",
    "get_optimal_device": "devices",
    "model_shape": "architectures",
    "ArchitectureSpec": "architectures",
    "convert_to_gguf": "export",
    # discovery
    "ICAMask": "networks",
    "DiscoverySettings": "discovery_settings",
    "FunctionalNetworks": "functional_networks",
    "load_labelled_texts": "texts",
    "load_templates": "templates",
    "save_templates": "templates",
    "drift": "network_drift",
    "neuron_means": "means",
    # masking and evaluation
    "NetworkSelection": "selection",
    "NeuronMask": "masking",
    "apply_mask": "masking",
    "masked": "masking",
    "measure_effect": "evaluation",
    # fine-tuning
    "DatasetFormatter": "data",
    "TrainingConfig": "training",
    "train": "training",
    "load_adapter": "integrations",
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
