"""Discovery: capture MLP neuron activations over texts, reduce them (randomized PCA, or a streaming sketch),
unmix them with FastICA, threshold each component into a network, and check how reliable the networks are.

`ICAMask` is the façade over the whole stage; `DiscoverySettings` is its recipe, recorded in what it finds.
"""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_ica_mask": ("ICAMask",),
        "_settings": ("DEFAULT_SETTINGS", "DiscoverySettings", "DiscoverySettingsError"),
        "_capture": ("CapturedActivations", "capture_activations", "capture_batches", "layer_widths"),
        "_decomposition": ("Decomposition", "decompose", "reduced_stability", "standardize_"),
        "_randomized_pca": ("PROBE_WIDTH", "range_factors"),
        "_streaming": ("BatchGroups", "decompose_statistics"),
        "_thresholds": ("threshold_networks",),
        "_means": ("neuron_means", "with_neuron_means"),
        "_reliability": ("reliability_notes", "split_half", "split_halves"),
        "_parallel": ("Processes", "join_process_group_from_environment"),
    },
)
