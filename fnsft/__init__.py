"""fnsft: find functional networks of LLM neurons, lesion or preserve them, and fine-tune with them."""

from .architectures import ARCHITECTURES, ArchitectureSpec, mlp_blocks, model_shape
from .data import DatasetFormatter
from .devices import get_optimal_device
from .export import convert_to_gguf
from .functional_networks import FunctionalNetworks
from .masking import NeuronMask, apply_mask, build_mask, masked
from .models import load_model, setup_lora
from .networks import ICAMask
from .templates import load_templates, save_templates

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "ArchitectureSpec",
    "DatasetFormatter",
    "FunctionalNetworks",
    "ICAMask",
    "NeuronMask",
    "apply_mask",
    "build_mask",
    "convert_to_gguf",
    "get_optimal_device",
    "load_model",
    "load_templates",
    "masked",
    "mlp_blocks",
    "model_shape",
    "save_templates",
    "setup_lora",
]
