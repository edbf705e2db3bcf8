"""Lesion and preservation curves: the networks against random neurons of equal count per layer.

Lesion curve: lesion the union of the top n networks (n = 1..N, in the template's order: explained variance),
and `draws` random neuron sets with the same count per layer; loss per category on held-out text.
Both come with zero-ablation (silenced neurons read 0) or mean-ablation (they read their mean over the discovery
tokens, the standard control in activation patching: zeroing pushes a layer off its usual operating point).
Preservation curve: keep only the union of the top n networks (x = fraction of neurons kept) and compare with
keeping random sets of equal size; "retained" is the share of the model's above-chance performance kept:
(loss of a uniform guess - masked loss) / (loss of a uniform guess - unmasked loss).
"""

from __future__ import annotations

import math

import numpy as np

from fnsft.analysis import loss_by_category, sample_std, token_losses
from fnsft.data import LabelledTexts
from fnsft.masking import build_mask, random_neuron_sets
from fnsft.networks import FunctionalNetworks


def _loss(model, tokenizer, texts: LabelledTexts, mask) -> dict[str, float]:
    return loss_by_category(token_losses(model, tokenizer, texts.texts, mask=mask), texts.categories)


def masking_curve(
    model,
    tokenizer,
    networks: FunctionalNetworks,
    texts: LabelledTexts,
    mode: str,
    points: list[int],
    draws: int,
    seed: int,
    log=print,
    fill: str = "zero",
) -> dict:
    """Losses for the top-n networks and for `draws` random equal-size masks, at each n in `points`; silenced
    neurons are set to 0 (`fill="zero"`) or to their mean over the discovery tokens (`fill="mean"`)."""
    widths, site = networks.layer_widths, networks.granularity
    dial = {"fill": fill, "means": networks.neuron_means if fill == "mean" else None}
    baseline = _loss(model, tokenizer, texts, None)
    chance = math.log(len(tokenizer))
    rows = []
    for n in points:
        union = networks.union(range(n))
        fraction = sum(len(ids) for ids in union.values()) / sum(widths)
        network_loss = _loss(model, tokenizer, texts, build_mask(union, widths, mode, site=site, **dial))
        random_losses = [
            _loss(
                model,
                tokenizer,
                texts,
                build_mask(random_neuron_sets(union, widths, seed + d), widths, mode, site=site, **dial),
            )
            for d in range(draws)
        ]
        row = {
            "components": n,
            "neuron_fraction": fraction,
            "network": network_loss,
            "random": random_losses,
            "random_mean": {k: float(np.mean([r[k] for r in random_losses])) for k in baseline},
            "random_std": {k: sample_std([r[k] for r in random_losses]) for k in baseline},
        }
        if mode == "preserve":
            row["retained_network"] = (chance - network_loss["all"]) / (chance - baseline["all"])
            row["retained_random"] = [(chance - r["all"]) / (chance - baseline["all"]) for r in random_losses]
        else:
            increase = row["random_mean"]["all"] - baseline["all"]
            row["ratio"] = (network_loss["all"] - baseline["all"]) / increase if increase > 1e-9 else math.inf
        rows.append(row)
        log(
            f"{mode} ({fill}) top {n:>2} ({fraction:6.2%} of neurons): network {network_loss['all']:.3f}, random "
            f"{row['random_mean']['all']:.3f} ± {row['random_std']['all']:.3f} (baseline {baseline['all']:.3f})"
        )
    return {"mode": mode, "fill": fill, "baseline": baseline, "chance_loss": chance, "rows": rows}
