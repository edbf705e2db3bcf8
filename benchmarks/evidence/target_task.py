"""The narrow target task for the forgetting experiment, generated here so anyone can rebuild it exactly.

Task: "Reverse the order of the words" applied to short made-up sentences. It is a fixed transformation, so a
model can learn the rule and be scored on held-out sentences it never saw, and it has nothing to do with the
general text the forgetting is measured on.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SUBJECTS = [
    "the old sailor",
    "a quiet child",
    "my neighbour",
    "the tired baker",
    "a young fox",
    "the red robot",
    "our teacher",
    "the brave knight",
    "a lonely whale",
    "the clever crow",
    "her brother",
    "the night guard",
]
VERBS = [
    "paints",
    "finds",
    "carries",
    "follows",
    "builds",
    "watches",
    "cleans",
    "sells",
    "draws",
    "hides",
    "repairs",
    "counts",
]
OBJECTS = [
    "a green boat",
    "the broken clock",
    "seven apples",
    "a paper kite",
    "the silver key",
    "two blue chairs",
    "a small garden",
    "the morning train",
    "an empty basket",
    "the stone bridge",
    "a warm blanket",
    "the last letter",
]
PLACES = [
    "near the river",
    "after dinner",
    "in the market",
    "before sunrise",
    "under the bridge",
    "at the station",
    "on the hill",
    "during the storm",
    "behind the school",
    "by the window",
]
INSTRUCTION = "Reverse the order of the words in this sentence."


def make_items(count: int, seed: int) -> list[dict]:
    """`count` distinct Alpaca records: instruction, the sentence as input, its words reversed as output."""
    rng = random.Random(seed)
    seen, items = set(), []
    while len(items) < count:
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}"
        if sentence in seen:
            continue
        seen.add(sentence)
        items.append(
            {"instruction": INSTRUCTION, "input": sentence, "output": " ".join(reversed(sentence.split()))}
        )
    return items


def write_task(folder: Path, train: int = 240, held_out: int = 60, seed: int = 0) -> Path:
    """task.json in `folder`: {"train": [...], "validation": [...]}, the validation sentences never trained on."""
    items = make_items(train + held_out, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "task.json"
    path.write_text(json.dumps({"train": items[:train], "validation": items[train:]}, indent=0))
    return path


if __name__ == "__main__":
    print(write_task(Path(__file__).resolve().parent / "task"))
