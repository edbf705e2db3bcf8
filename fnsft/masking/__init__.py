"""Masking: a checked `NetworkSelection` (which networks, components, layers, random control) and the forward
hooks that lesion, preserve, scale or mean-ablate its neurons."""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_selection": ("NetworkSelection", "mask_from_networks", "parse_component_ids"),
        ".choices": ("MASK_FILLS", "MASK_MODES"),
        "_hooks": ("MaskHandle", "NeuronMask", "apply_mask", "build_mask", "masked", "random_neuron_sets"),
    },
)
