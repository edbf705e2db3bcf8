"""The discovery settings a set of networks records, read back so a loaded template can be rediscovered alike."""

from __future__ import annotations

from typing import Any

from .choices import THRESHOLD_RULES
from .functional_networks import FunctionalNetworks

DISCOVERY_SETTINGS = (
    "num_components",
    "threshold",
    "threshold_rule",
    "granularity",
    "ica_over",
    "seed",
    "max_iter",
    "tol",
    "restarts",
    "stability_runs",
    "stability_threshold",
    "max_length",
    "chat_format",
)


def recorded_settings(networks: FunctionalNetworks) -> dict[str, Any]:
    """The ICAMask settings that found `networks`, as far as they record them (none are guessed)."""
    settings: dict[str, Any] = {
        "num_components": networks.num_components,
        "granularity": networks.granularity,
        "stability_threshold": networks.stability_threshold,
    }
    rule, value = networks.threshold.get("rule"), networks.threshold.get("value")
    if rule in THRESHOLD_RULES and value is not None:
        settings.update(threshold_rule=rule, threshold=value)
    for name in ("ica_over", "seed", "max_iter", "tol", "restarts", "stability_runs"):
        if name in networks.decomposition:
            settings[name] = networks.decomposition[name]
    for name in ("max_length", "chat_format"):
        if name in networks.data:
            settings[name] = networks.data[name]
    return settings
