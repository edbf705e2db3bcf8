"""Does another CPU find the shipped networks? Rebuild the shipped template's recorded recipe here and compare.

The shipped template (`fnsft/_data/ica_templates/SmolLM2-135M-Instruct.json`) was found on one CPU; its
`"discovery"` settings are the whole recipe (float32 matrix, streaming, seed 0). This repeats that recipe on the
shipped corpus (without the split halves, which do not change the networks), matches the networks by position
(the recipe orders them itself) and writes each one's IoU with the shipped one to
`benchmarks/results/cross_cpu/<cpu>.json`, with the CPU model and whether it multiplies bfloat16 in hardware.
About 18 minutes on a 2-core CPU:

    .venv/bin/python benchmarks/cross_cpu_rebuild.py
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from provenance import environment

RESULTS = Path(__file__).resolve().parent / "results" / "cross_cpu"
TEMPLATE = (
    Path(__file__).resolve().parents[1] / "fnsft" / "_data" / "ica_templates" / "SmolLM2-135M-Instruct.json"
)


def neuron_set(network: dict) -> set[tuple[int, int]]:
    return {(int(layer), int(neuron)) for layer, ids in network.items() for neuron in ids}


def main() -> None:
    import numpy as np

    from fnsft import DiscoverySettings, load_model
    from fnsft.data import discovery_texts
    from fnsft.discovery import ICAMask
    from fnsft.networks import load_templates

    shipped = load_templates(TEMPLATE)
    settings = DiscoverySettings(**json.loads(TEMPLATE.read_text())["discovery"]).replace(split_half=False)
    model, tokenizer = load_model()
    start = time.perf_counter()
    rebuilt = ICAMask(settings, cards=False).compute_global_networks(model, tokenizer, discovery_texts())
    seconds = time.perf_counter() - start
    iou = []
    for ours, theirs in zip(rebuilt.neurons, shipped.neurons, strict=True):
        a, b = neuron_set(ours), neuron_set(theirs)
        iou.append(len(a & b) / max(len(a | b), 1))
    result = {
        "environment": environment(),
        "recipe": settings.to_dict(),
        "seconds": round(seconds),
        "identical_networks": sum(value == 1.0 for value in iou),
        "networks": len(iou),
        "iou_by_position": [round(value, 4) for value in iou],
        "min_iou": round(min(iou), 4),
        "median_iou": round(float(np.median(iou)), 4),
        "sizes_shipped": shipped.sizes().tolist(),
        "sizes_rebuilt": rebuilt.sizes().tolist(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", result["environment"]["cpu_model"].lower()).strip("-")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({key: value for key, value in result.items() if key != "recipe"}, indent=1))


if __name__ == "__main__":
    main()
