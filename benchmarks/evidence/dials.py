"""Evidence II, masking side: the curves under mean-ablation, a gain sweep, and the paper's own protocol.

Mean-ablation sets a silenced neuron to its mean over the discovery tokens instead of 0 (the control activation
patching work uses), so whether preservation fails because of the networks or because of zeroing can be told
apart. The gain sweep scales the top networks' neurons by g (0 = lesion, 1 = untouched, 2 = doubled) against
random neurons of equal count per layer scaled alike. The paper's protocol (Liu et al.): networks of MLP-output
channels, z >= 1.96, 10 components.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from curves import masking_curve

from fnsft.analysis import gain_sweep, sample_std
from fnsft.data import LabelledTexts
from fnsft.discovery import ICAMask
from fnsft.networks import FunctionalNetworks

PAPER = {"num_components": 10, "threshold": 1.96, "threshold_rule": "zscore", "granularity": "mlp_output"}
SWEEP_GAINS = (0.0, 0.5, 1.0, 1.5, 2.0)


def curves(
    model,
    tokenizer,
    networks,
    texts,
    points,
    draws,
    seed,
    fills=("zero", "mean"),
    save=None,
    modes=("lesion", "preserve"),
) -> dict:
    """Lesion and preservation curves for each fill, keyed lesion_curve / preserve_curve (+ _mean for mean fill)."""
    found = {}
    for fill in fills:
        for mode in modes:
            key = f"{mode}_curve" + ("_mean" if fill == "mean" else "")
            found[key] = masking_curve(
                model, tokenizer, networks, texts, mode, points, draws, seed, fill=fill
            )
            if save:
                save(key, found[key])
    return found


def _summary(losses: list[dict[str, float]]) -> list[float]:
    return [loss["all"] for loss in losses]


def gain_section(
    model,
    tokenizer,
    networks: FunctionalNetworks,
    texts: LabelledTexts,
    tops: list[int],
    draws: int,
    seed: int,
) -> dict:
    """Loss vs gain for the union of the top-n networks, for each n in `tops`, with random controls."""
    sweeps = []
    for n in tops:
        sweep = gain_sweep(
            model, tokenizer, networks, range(n), texts, SWEEP_GAINS, random_draws=draws, seed=seed
        )
        random = np.array([_summary(draw) for draw in sweep["random"]])
        sweep["network_all"] = _summary(sweep["network"])
        sweep["random_mean_all"] = random.mean(axis=0).tolist()
        sweep["random_std_all"] = [sample_std(column) for column in random.T]
        sweep["neuron_fraction"] = sum(len(v) for v in networks.union(range(n)).values()) / sum(
            networks.layer_widths
        )
        sweeps.append(sweep)
        print(
            f"gain sweep top {n}: "
            + ", ".join(
                f"g={g:g} {v:.2f}" for g, v in zip(sweep["gains"], sweep["network_all"], strict=True)
            ),
            flush=True,
        )
    return {"gains": list(SWEEP_GAINS), "random_draws": draws, "sweeps": sweeps}


def paper_networks(model, tokenizer, tokens: int, stability_runs: int) -> FunctionalNetworks:
    """Networks found with the paper's protocol on the shipped prompt set's discovery split."""
    finder = ICAMask(**PAPER, stability_runs=stability_runs)
    networks = finder.compute_global_networks(model, tokenizer, max_tokens=tokens)
    networks.name = "paper protocol: MLP output, z >= 1.96, 10 components"
    return networks


def paper_section(
    model,
    tokenizer,
    texts: LabelledTexts,
    points: list[int],
    draws: int,
    seed: int,
    tokens: int,
    save: Callable[[dict], None] | None = None,
    modes=("lesion", "preserve"),
) -> dict:
    """The paper protocol's networks (sizes, share of channels) and their curves under both fills."""
    networks = paper_networks(model, tokenizer, tokens, stability_runs=0)
    sizes = networks.sizes()
    union = sum(len(v) for v in networks.union(range(networks.num_components)).values())
    section = {
        "protocol": {**PAPER, "tokens": tokens},
        "network_sizes": sizes.tolist(),
        "union_fraction": union / sum(networks.layer_widths),
    }
    print(
        f"paper protocol: sizes {sizes.tolist()}, union {section['union_fraction']:.1%} of channels",
        flush=True,
    )

    def keep(key, curve):
        section[key] = curve
        if save:
            save(section)

    points = [p for p in points if p <= networks.num_components]
    curves(model, tokenizer, networks, texts, points, draws, seed, save=keep, modes=modes)
    return section
