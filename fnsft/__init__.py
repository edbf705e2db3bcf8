"""fnsft: find functional networks of LLM neurons, lesion or preserve them, and fine-tune with them."""

from .architectures import ARCHITECTURES, ArchitectureSpec, mlp_blocks, model_shape
from .devices import get_optimal_device
from .models import load_model, setup_lora

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "ArchitectureSpec",
    "get_optimal_device",
    "load_model",
    "mlp_blocks",
    "model_shape",
    "setup_lora",
]
