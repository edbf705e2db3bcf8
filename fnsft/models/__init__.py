"""Models: loading (the embedded offline default, hub ids, folders, GGUF files), LoRA, the device and dtype
policy, the one table of where each family keeps its MLP, neuron sites in TransformerLens/nnsight names, and GGUF
export."""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_loading": ("EMBEDDED_MODEL_ID", "load_model", "model_id", "model_revision", "setup_lora"),
        "_devices": (
            "cpu_has_native_bf16",
            "default_dtype",
            "get_optimal_device",
            "matrix_dtype",
            "resolve_device",
            "resolve_dtype",
        ),
        "_architectures": (
            "ARCHITECTURES",
            "ArchitectureSpec",
            "MLPBlock",
            "ModelShape",
            "hook_site",
            "mlp_blocks",
            "model_shape",
            "unwrap_model",
        ),
        "_hook_names": ("hook_site_names", "nnsight_site"),
        "_gguf_export": ("convert_to_gguf",),
    },
)
