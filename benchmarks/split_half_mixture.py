"""Would a mixture-model threshold make the shipped networks reproduce? (issue 25; measured, not adopted)

FSL MELODIC thresholds an fMRI ICA map by fitting a Gaussian (the null) plus a Gamma (the active tail) to it and
keeping the voxels whose posterior of the tail passes a cut (Beckmann & Smith 2004, IEEE TMI 23:137). Here the
same fit runs on each sign-corrected, z-scored neuron map of the discoveries that `split_half_variants.py
discover` pickles (the whole corpus and its two halves without reruns), and the halves are matched as the
template's split-half record matches them, next to the library's z rules on the same maps:

    .venv/bin/python benchmarks/split_half_variants.py discover --halves-stability-runs 0
    .venv/bin/python benchmarks/split_half_mixture.py

Writes benchmarks/results/split_half_mixture.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import warnings
from math import lgamma
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
POSTERIORS = (0.5, 0.9, 0.99, 0.999)
Z_RULES = (3.0, 4.0, 5.0)


def tail_posterior(weights: np.ndarray, iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(posterior of the Gamma tail per neuron, the z-scored map): EM for a Gaussian + Gamma mixture, started
    from the neurons above z = 3; the Gamma is updated by its weighted moments, as MELODIC does."""
    x = ((weights - weights.mean()) / (weights.std() + 1e-12)).astype(np.float64)
    mu, sigma = float(np.median(x)), float(1.4826 * np.median(np.abs(x - np.median(x))))
    tail = x > 3.0
    mean, var = x[tail].mean(), x[tail].var() + 1e-6
    shape, scale, share = mean * mean / var, var / mean, tail.mean()
    positive = x > 0
    for _ in range(iterations):
        log_tail = np.full(x.shape, -np.inf)
        xp = x[positive]
        log_tail[positive] = (
            np.log(share) + (shape - 1) * np.log(xp) - xp / scale - lgamma(shape) - shape * np.log(scale)
        )
        log_null = np.log(1 - share) - 0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
        top = np.maximum(log_tail, log_null)
        posterior = np.exp(log_tail - top) / (np.exp(log_tail - top) + np.exp(log_null - top))
        share = float(np.clip(posterior.mean(), 1e-6, 0.5))
        null = 1 - posterior
        mu = float((null * x).sum() / null.sum())
        sigma = float(np.sqrt((null * (x - mu) ** 2).sum() / null.sum()))
        weight, xp = posterior[positive], x[positive]
        mean = (weight * xp).sum() / weight.sum()
        var = (weight * (xp - mean) ** 2).sum() / weight.sum() + 1e-9
        shape, scale = mean * mean / var, var / mean
    return posterior, x


def main(argv: list[str] | None = None) -> None:
    from split_half_variants import by_layer

    from fnsft.discovery import split_half

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "fnsft" / "split_half_variants"))
    work = Path(parser.parse_args(argv).work)
    full = pickle.loads((work / "full.pkl").read_bytes())
    halves = pickle.loads((work / "halves-0.pkl").read_bytes())
    fits = {id(n): [tail_posterior(m) for m in n.maps] for n in (full, *halves)}

    def by_posterior(networks, cut: float):
        neurons = [
            by_layer(np.flatnonzero((p >= cut) & (x > 0)), networks.layer_widths)
            for p, x in fits[id(networks)]
        ]
        return dataclasses.replace(networks, neurons=neurons, split_half=None)

    rules = [("z", v, lambda n, v=v: n.rethreshold("zscore", v)) for v in Z_RULES]
    rules += [("mixture posterior", p, lambda n, p=p: by_posterior(n, p)) for p in POSTERIORS]
    rows = []
    for rule, value, threshold in rules:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty network is part of the answer here
            whole = threshold(full)
            found = split_half(whole, *(threshold(h) for h in halves))
        rows.append(
            {
                "rule": rule,
                "value": value,
                "median_iou": round(float(np.median(found.iou)), 3),
                "median_abs_correlation": round(float(np.median(np.abs(found.correlation))), 3),
                "reproduced": int(found.reproduced().sum()),
                "median_network_size": int(np.median(whole.sizes())),
                "smallest_network": int(whole.sizes().min()),
            }
        )
        print(rows[-1], flush=True)
    report = {
        "what": "split-half IoU of the shipped recipe by threshold rule",
        "recipe": full.settings.to_dict(),
        "rows": rows,
    }
    (RESULTS / "split_half_mixture.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
