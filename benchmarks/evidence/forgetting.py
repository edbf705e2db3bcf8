"""Forgetting experiment: fine-tune on the narrow target task under each method with equal steps, and measure
what was learned (held-out target loss decrease) and forgotten (general-text loss increase).

The learning rates are deliberately high (full 2e-4, LoRA 1e-3) so that plain fine-tuning forgets measurably
within the step budget: at 5e-5 and 30 steps no method moved the general-text loss by more than 0.01 nats, which
leaves nothing to protect.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from target_task import write_task  # noqa: E402

from fnsft.analysis import sample_std  # noqa: E402
from fnsft.training import TrainingConfig, train  # noqa: E402

# key (for --methods): (label, training method, network_mode, random_control)
METHODS = {
    "full": ("full fine-tuning", "full", "none", False),
    "lora": ("LoRA", "lora", "none", False),
    "lora-lesion": ("LoRA, networks lesioned", "lora", "lesion", False),
    "lora-preserve": ("LoRA, only networks kept", "lora", "preserve", False),
    "full-train-only": ("full, train only networks", "full", "train_only", False),
    "full-train-only-random": ("full, train only random neurons", "full", "train_only", True),
    "full-freeze": ("full, networks frozen", "full", "freeze", False),
    "full-freeze-random": ("full, random neurons frozen", "full", "freeze", True),
}
LEARNING_RATES = {"full": 2e-4, "lora": 1e-3}
SETTINGS = {"batch_size": 4, "max_length": 96, "eval_texts_per_category": 4}


def chosen_methods(text: str | None) -> list[str]:
    """METHODS keys from a comma-separated --methods value (all of them when empty), refusing unknown ones."""
    keys = [key.strip() for key in text.split(",") if key.strip()] if text else list(METHODS)
    unknown = sorted(set(keys) - METHODS.keys())
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
    return keys


def _row(label: str, seed: int, report: dict) -> dict:
    row = {"method": label, "seed": seed, "learned": report["learned"], "forgotten": report["forgotten"]}
    row["target"] = report["target"]
    row["general"] = {name: value["increase"] for name, value in report["general"].items()}
    if "with_training_mask" in report:
        masked = report["with_training_mask"]
        row["with_training_mask"] = {"learned": masked["learned"], "forgotten": masked["forgotten"]}
    return row


def _spread(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": sample_std(values)}


def summarise(results: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds, per method (and with the training mask, where one was on)."""
    summary = {}
    for label, method, mode, random_control in METHODS.values():
        rows = [r for r in results if r["method"] == label]
        if not rows:
            continue
        learned, forgotten = _spread([r["learned"] for r in rows]), _spread([r["forgotten"] for r in rows])
        entry = {
            "training": method,
            "network_mode": mode,
            "random_control": random_control,
            "learning_mean": learned["mean"],
            "learning_std": learned["std"],
            "forgetting_mean": forgotten["mean"],
            "forgetting_std": forgotten["std"],
            "seeds": len(rows),
        }
        if all("with_training_mask" in r for r in rows):
            entry["with_training_mask"] = {
                "learning": _spread([r["with_training_mask"]["learned"] for r in rows]),
                "forgetting": _spread([r["with_training_mask"]["forgotten"] for r in rows]),
            }
        summary[label] = entry
    return summary


def run_config(
    key: str, seed: int, model: str | None, task: Path, template: Path, runs: Path, *, steps: int, device: str
) -> TrainingConfig:
    """The training run of one METHODS key and seed, with the settings every method shares."""
    label, method, mode, random_control = METHODS[key]
    return TrainingConfig(
        model=model,
        dataset=str(task),
        method=method,
        network_mode=mode,
        random_control=random_control,
        templates=str(template) if mode != "none" else None,
        learning_rate=LEARNING_RATES[method],
        max_steps=steps,
        seed=seed,
        save_steps=10_000,
        output_dir=str(runs / f"{label.replace(' ', '_').replace(',', '')}-seed{seed}"),
        device=device,
        **SETTINGS,
    )


def forgetting_experiment(
    model: str | None,
    networks,
    runs: Path,
    *,
    seeds: int,
    steps: int,
    device: str,
    methods: list[str] | None = None,
) -> dict:
    """Train under each method (all when `methods` is None, else these METHODS keys) for each seed."""
    task = write_task(runs / "task")
    results = []
    template = runs / "networks.json"
    from fnsft.networks import save_templates

    save_templates(networks, template)
    for seed in range(seeds):
        for key in methods or METHODS:
            label = METHODS[key][0]
            config = run_config(key, seed, model, task, template, runs, steps=steps, device=device)
            row = _row(label, seed, train(config).report)
            # the report is kept; the weights of a sweep run are not needed
            shutil.rmtree(Path(config.output_dir) / "final", ignore_errors=True)
            results.append(row)
            print(
                f"{label:<34} seed {seed}: learned {row['learned']:+.3f}, forgotten {row['forgotten']:+.3f}",
                flush=True,
            )
            (runs / "partial.json").write_text(json.dumps(results, indent=1))
    return {
        "task": "reverse the word order (240 train / 60 held-out sentences)",
        "steps": steps,
        "learning_rates": LEARNING_RATES,
        "settings": SETTINGS,
        "general_eval": "shipped prompt set, eval split, 4 texts per category (32 texts)",
        "runs": results,
        "summary": summarise(results),
    }
