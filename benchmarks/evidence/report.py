"""The evidence tables of docs/evidence.md, printed as Markdown from an evidence JSON (so no number is copied by hand).

.venv/bin/python benchmarks/evidence/report.py [benchmarks/results/evidence/evidence.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fnsft.analysis import (  # noqa: E402
    EVIDENCE_JSON,
    curve_series,
    forgetting_rows,
    load_evidence,
    sample_std,  # noqa: E402
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def curve_table(curve: dict) -> str:
    """Per point: networks, % of neurons, network loss, random loss (mean ± std), and the network's edge."""
    series = curve_series(curve)
    above = "increase ratio" if series.mode == "lesion" else "networks better by"
    rows = []
    for index, n in enumerate(series.components):
        network, random, std = series.network[index], series.random_mean[index], series.random_std[index]
        if series.mode == "lesion":
            increase = random - series.baseline
            edge = f"{(network - series.baseline) / increase:.1f}" if increase > 0 else "n/a"
        else:
            edge = f"{random - network:+.2f}"
        rows.append(
            [str(n), f"{series.percent[index]:.1f}%", f"{network:.2f}", f"{random:.2f} ± {std:.2f}", edge]
        )
    masked = "networks lesioned" if series.mode == "lesion" else "only networks kept"
    header = ["top networks", "neurons", masked, "random neurons instead (mean ± std)", above]
    return _table(header, rows)


def forgetting_table(forgetting: dict) -> str:
    """Per method: learned and forgotten, mean ± std over seeds (nats/token)."""
    rows = [
        [
            row["method"],
            f"{row['learned']:.2f} ± {row['learned_std']:.2f}",
            f"{row['forgotten']:+.3f} ± {row['forgotten_std']:.3f}",
        ]
        for row in forgetting_rows(forgetting)
    ]
    return _table(["method", "learned (target loss decrease)", "forgotten (general loss increase)"], rows)


def masked_table(forgetting: dict) -> str:
    """Forward-masked methods measured with their training mask still on."""
    rows = [
        [
            method,
            f"{entry['with_training_mask']['learning']['mean']:.2f} ± {entry['with_training_mask']['learning']['std']:.2f}",
            f"{entry['with_training_mask']['forgetting']['mean']:+.3f} ± "
            f"{entry['with_training_mask']['forgetting']['std']:.3f}",
        ]
        for method, entry in forgetting["summary"].items()
        if "with_training_mask" in entry
    ]
    return _table(["method, mask kept on", "learned", "forgotten"], rows)


PAIRS = [
    ("full, networks frozen", "full, random neurons frozen"),
    ("full, networks frozen", "full fine-tuning"),
    ("full, train only networks", "full, train only random neurons"),
    ("full, train only networks", "full fine-tuning"),
    ("LoRA, networks lesioned", "LoRA"),
]


def paired_table(forgetting: dict) -> str:
    """Method A minus method B within each seed (same data order), mean ± std over the seeds both ran."""
    runs = {(run["method"], run["seed"]): run for run in forgetting["runs"]}
    rows = []
    for first, second in PAIRS:
        seeds = sorted(seed for method, seed in runs if method == first and (second, seed) in runs)
        if not seeds:
            continue
        cells = [f"{first} − {second}"]
        for key in ("learned", "forgotten"):
            differences = np.array([runs[first, seed][key] - runs[second, seed][key] for seed in seeds])
            spread = sample_std(differences)
            cells.append(
                f"{differences.mean():+.3f} ± {spread:.3f} ({int((differences < 0).sum())}/{len(seeds)} < 0)"
            )
        rows.append(cells)
    return _table(["paired, per seed", "learned difference", "forgotten difference"], rows)


def gain_table(section: dict) -> str:
    """Per top-n union: loss at each gain for the networks and for random neurons (mean ± std)."""
    rows = []
    for sweep in section["sweeps"]:
        n = len(sweep["components"])
        cells = zip(sweep["network_all"], sweep["random_mean_all"], sweep["random_std_all"], strict=True)
        rows.append(
            [f"top {n} ({100 * sweep['neuron_fraction']:.1f}%)"]
            + [f"{net:.2f} / {mean:.2f} ± {std:.2f}" for net, mean, std in cells]
        )
    header = ["networks scaled (neurons)"] + [f"g = {g:g}: networks / random" for g in section["gains"]]
    return _table(header, rows)


def drift_table(section: dict) -> str:
    """Per method: mean matched IoU (± std over seeds) and kept / moved / dissolved, against the template and
    against the rediscovery on the untouched base model."""
    rows = []
    for method, entry in section["summary"].items():
        cells = [method, str(entry["seeds"])]
        for side in ("vs_template", "vs_base_rediscovery"):
            found = entry[side]
            counts = found["counts_mean"]
            cells.append(
                f"{found['mean_iou']:.2f} ± {found['mean_iou_std']:.2f} "
                f"({counts['kept']:.1f} / {counts['moved']:.1f} / {counts['dissolved']:.1f})"
            )
        rows.append(cells)
    header = [
        "method",
        "seeds",
        "vs template: IoU (kept / moved / dissolved)",
        "vs base rediscovery: IoU (k / m / d)",
    ]
    return _table(header, rows)


CURVES = ("lesion_curve", "preserve_curve", "lesion_curve_mean", "preserve_curve_mean")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    evidence = load_evidence(argv[0] if argv else EVIDENCE_JSON)
    for key in CURVES:
        if key in evidence:
            print(f"{key}\n\n{curve_table(evidence[key])}\n")
    if "gain_sweep" in evidence:
        print(f"gain_sweep\n\n{gain_table(evidence['gain_sweep'])}\n")
    paper = evidence.get("paper_protocol", {})
    for key in CURVES:
        if key in paper:
            print(f"paper_protocol {key}\n\n{curve_table(paper[key])}\n")
    if "drift" in evidence and "summary" in evidence["drift"]:
        print(f"drift\n\n{drift_table(evidence['drift'])}\n")
    if "forgetting" in evidence:
        forgetting = evidence["forgetting"]
        for table in (forgetting_table, masked_table, paired_table):
            print(f"{table(forgetting)}\n")


if __name__ == "__main__":
    main()
