"""Evidence II, fine-tuning side: do the networks survive full fine-tuning, freezing them, or training only them?

Each method is trained exactly as in the forgetting experiment (same task, steps, learning rate and seed), then
the networks are rediscovered on the fine-tuned model with the template's recipe and matched to the template
(fnsft.drift). Rediscovery on the untouched base model is run too, as the control: the shipped template was
found by an earlier version of the decomposition, so part of any difference is the recipe, not the training.
Each fine-tuned model is therefore also matched to that base rediscovery (same code, same texts), which leaves
the change fine-tuning made alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from forgetting import METHODS, run_config
from target_task import write_task

from fnsft.analysis import compare_networks, drift, sample_std
from fnsft.models import load_model
from fnsft.networks import save_templates
from fnsft.training import train

DRIFT_METHODS = ("full", "full-freeze", "full-train-only")
REDISCOVERY = {"stability_runs": 0}  # matching uses no stability: skip its reruns


def _mean_iou(report) -> float:
    """Mean matched IoU over the base networks that have neurons (an empty one has nothing to follow)."""
    return float(np.mean([n.iou for n in report.networks if n.status != "empty"]))


def _entry(label: str, seed: int | None, vs_template, vs_base) -> dict:
    entry = {
        "method": label,
        "seed": seed,
        "vs_template": vs_template.to_dict(),
        "vs_base_rediscovery": vs_base.to_dict(),
        "mean_iou_vs_template": _mean_iou(vs_template),
        "mean_iou_vs_base_rediscovery": _mean_iou(vs_base),
    }
    print(
        f"drift {label:<28} seed {seed}: vs template {vs_template.counts()} (mean IoU "
        f"{entry['mean_iou_vs_template']:.2f}); vs base rediscovery {vs_base.counts()} "
        f"(mean IoU {entry['mean_iou_vs_base_rediscovery']:.2f})",
        flush=True,
    )
    return entry


def summarise(runs: list[dict]) -> dict:
    """Per method: mean ± std over seeds of the mean matched IoU, and per network how often it was kept."""
    summary = {}
    for label in dict.fromkeys(run["method"] for run in runs):
        rows = [run for run in runs if run["method"] == label]
        entry = {"seeds": len(rows)}
        for side in ("vs_template", "vs_base_rediscovery"):
            ious = [row[f"mean_iou_{side}"] for row in rows]
            statuses = [[n["status"] for n in row[side]["networks"]] for row in rows]
            entry[side] = {
                "mean_iou": float(np.mean(ious)),
                "mean_iou_std": sample_std(ious),
                "counts_mean": {
                    key: float(np.mean([row[side]["counts"][key] for row in rows]))
                    for key in rows[0][side]["counts"]
                },
                "kept_share_per_network": [
                    float(np.mean([seed_statuses[i] == "kept" for seed_statuses in statuses]))
                    for i in range(len(statuses[0]))
                ],
            }
        summary[label] = entry
    return summary


def drift_experiment(
    model: str | None,
    networks,
    runs: Path,
    *,
    seeds: int,
    steps: int,
    device: str,
    methods=DRIFT_METHODS,
    tokens: int | None = None,
    save=None,
    earlier: dict | None = None,
) -> dict:
    """The control rediscovery, then per seed and method: train, rediscover (on `tokens` tokens, default the
    template's), match to the template and to the control. Learned and forgotten are in the forgetting
    experiment, whose runs these repeat, so they are not measured again. Runs in `earlier` (a previous section
    with the same steps and tokens) of methods not run now are kept, so methods can be added one run at a time."""
    task = write_task(runs / "task")
    template = save_templates(networks, runs / "networks.json")
    base_model, tokenizer = load_model(model, device=device)
    control = drift(networks, base_model, tokenizer, max_tokens=tokens, settings=REDISCOVERY)
    base_after = control.after
    del base_model
    results = [
        _entry("no fine-tuning (rediscovery alone)", None, control, compare_networks(base_after, base_after))
    ]
    tokens_used = control.after.data["num_tokens"]
    labels = {METHODS[key][0] for key in methods}
    if earlier and (earlier.get("steps"), earlier.get("tokens")) == (steps, tokens_used):
        kept = [run for run in earlier["runs"][1:] if run["method"] not in labels]
        results.extend(kept)
        methods = [*dict.fromkeys([*earlier["methods"], *methods])]
    section = {"methods": list(methods), "steps": steps, "tokens": tokens_used, "runs": results}
    for seed in range(seeds):
        for key in [key for key in methods if METHODS[key][0] in labels]:
            config = run_config(key, seed, model, task, template, runs, steps=steps, device=device)
            config.evaluate = False
            config.overwrite = True  # a drift rerun of a method replaces that method's earlier run folder
            trained = train(config)
            report = drift(networks, trained.model, tokenizer, max_tokens=tokens, settings=REDISCOVERY)
            entry = _entry(METHODS[key][0], seed, report, compare_networks(base_after, report.after))
            results.append(entry)
            shutil.rmtree(Path(config.output_dir) / "final", ignore_errors=True)
            del trained
            section["summary"] = summarise(results)
            if save:
                save(section)
    section["summary"] = summarise(results)
    return section
