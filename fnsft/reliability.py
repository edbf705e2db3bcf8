"""Whether a set of networks can be trusted: what a user must be told before reading anything into them.

A discovery from a few hundred tokens still returns the number of networks asked for; only their stability, their
sizes and the token count show that they are noise. These notes say so in words, with the numbers.
"""

from __future__ import annotations

import numpy as np

from .functional_networks import FunctionalNetworks

# Below this, networks found on one half of the shipped prompt set mostly do not come back on the other half:
# matched IoU median 0.003 at 256 tokens, 0.14 at 1,024, 0.15 at 4,096, 0.49 at 16,384 (8 networks, embedded
# model; benchmarks/split_half_reliability.py), although reruns on the same tokens call most of them stable.
FEW_TOKENS = 16384
TINY_NETWORK = 5  # neurons


def reliability_notes(networks: FunctionalNetworks) -> list[str]:
    """Warnings about `networks`, empty when nothing is known to be wrong; the first one sums up when any."""
    reasons = []
    tokens = networks.data.get("num_tokens")
    if isinstance(tokens, int) and tokens < FEW_TOKENS:
        reasons.append(
            f"only {tokens:,} tokens were recorded: networks from other texts of the same kind may differ "
            f"(use {FEW_TOKENS:,} or more)"
        )
    stable = networks.stable()
    if stable is not None and stable.sum() < len(stable) / 2:
        reasons.append(f"{int(stable.sum())}/{len(stable)} networks reproduced across reruns")
    sizes = networks.sizes()
    empty = [f"N{c}" for c in np.flatnonzero(sizes == 0)]
    if empty:
        reasons.append(f"{len(empty)} networks are empty ({', '.join(empty)})")
    tiny = int(((sizes > 0) & (sizes < TINY_NETWORK)).sum())
    if tiny:
        reasons.append(f"{tiny} networks have fewer than {TINY_NETWORK} neurons")
    if not reasons:
        return []
    return [f"These networks are unreliable: {'; '.join(reasons)}."]
