"""Forgetting experiment: fine-tune on the narrow target task under each method with equal steps, and measure
what was learned (held-out target loss decrease) and forgotten (general-text loss increase)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from target_task import write_task  # noqa: E402

from fnsft.training import TrainingConfig, train  # noqa: E402

# (label, method, network_mode, random_control)
METHODS = [
    ("full fine-tuning", "full", "none", False),
    ("LoRA", "lora", "none", False),
    ("LoRA, networks lesioned", "lora", "lesion", False),
    ("LoRA, only networks kept", "lora", "preserve", False),
    ("full, train only networks", "full", "train_only", False),
    ("full, networks frozen", "full", "freeze", False),
    ("full, train only random neurons", "full", "train_only", True),
]


def forgetting_experiment(
    model: str | None, networks, runs: Path, *, seeds: int, steps: int, device: str
) -> dict:
    task = write_task(runs / "task")
    results = []
    template = runs / "networks.json"
    from fnsft.templates import save_templates

    save_templates(networks, template)
    for seed in range(seeds):
        for label, method, mode, random_control in METHODS:
            config = TrainingConfig(
                model=model,
                dataset=str(task),
                method=method,
                network_mode=mode,
                random_control=random_control,
                templates=str(template) if mode != "none" else None,
                learning_rate=2e-4 if method == "lora" else 5e-5,
                max_steps=steps,
                batch_size=4,
                max_length=96,
                seed=seed,
                save_steps=10_000,
                eval_texts_per_category=2,
                output_dir=str(runs / f"{label.replace(' ', '_').replace(',', '')}-seed{seed}"),
                device=device,
            )
            report = train(config).report
            results.append(
                {
                    "method": label,
                    "seed": seed,
                    "learned": report["learned"],
                    "forgotten": report["forgotten"],
                    "target": report["target"],
                }
            )
            print(
                f"{label:<34} seed {seed}: learned {report['learned']:+.3f}, forgotten {report['forgotten']:+.3f}",
                flush=True,
            )
            (runs / "partial.json").write_text(json.dumps(results, indent=1))
    summary = {}
    for label, *_ in METHODS:
        rows = [r for r in results if r["method"] == label]
        learned = np.array([r["learned"] for r in rows])
        forgotten = np.array([r["forgotten"] for r in rows])
        summary[label] = {
            "learning_mean": float(learned.mean()),
            "learning_std": float(learned.std()),
            "forgetting_mean": float(forgotten.mean()),
            "forgetting_std": float(forgotten.std()),
            "seeds": len(rows),
        }
    return {
        "task": "reverse the word order (240 train / 60 held-out sentences)",
        "steps": steps,
        "runs": results,
        "summary": summary,
    }
