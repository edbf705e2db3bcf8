"""The generated tasks of the offline suite, made from word lists with a fixed seed: the shipped files are these
functions' output (`python -m fnsft.continual.synthetic <folder>` writes them again, byte for byte)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SEED = 20231
SUBJECTS = (
    "The pasta",
    "This phone",
    "The hotel room",
    "The film",
    "This jacket",
    "The service",
    "The novel",
    "The concert",
    "This laptop",
    "The museum tour",
    "The coffee",
    "This bicycle",
    "The app",
    "The train ride",
)
POSITIVE = (
    "was wonderful",
    "felt delightful",
    "exceeded every hope",
    "was a real pleasure",
    "worked perfectly",
    "made my week",
    "was worth every cent",
    "impressed the whole family",
    "left me smiling",
)
NEGATIVE = (
    "was dreadful",
    "felt like a waste",
    "broke within a day",
    "was a real letdown",
    "worked badly",
    "ruined my week",
    "was not worth the money",
    "annoyed the whole family",
    "left me frustrated",
)
ASIDES = (
    "I went on a Tuesday.",
    "A friend recommended it.",
    "It arrived on time.",
    "I tried it twice.",
    "The price was average.",
    "I had read about it online.",
    "It was my first time.",
)


def sentiment_records(count: int = 240, seed: int = SEED) -> list[dict]:
    """Distinct short reviews whose verdict phrase decides the label; the aside carries no sentiment. Distinct,
    so no test review also appears among the training ones."""
    generator = random.Random(seed)
    records = []
    for label, phrases in (("positive", POSITIVE), ("negative", NEGATIVE)):
        combinations = [
            (aside, subject, phrase) for aside in ASIDES for subject in SUBJECTS for phrase in phrases
        ]
        for aside, subject, phrase in generator.sample(combinations, count // 2):
            records.append({"text": f"{aside} {subject} {phrase}.", "label": label})
    generator.shuffle(records)
    return records


def parity_records(count: int = 240, seed: int = SEED + 1) -> list[dict]:
    """Distinct four-digit numbers, labelled odd or even (half each)."""
    generator = random.Random(seed)
    records = []
    for index, half in enumerate(generator.sample(range(500, 5000), count)):  # distinct numbers: no test leak
        number = half * 2 + (index % 2)
        records.append({"text": str(number), "label": "odd" if number % 2 else "even"})
    generator.shuffle(records)
    return records


GENERATED = {"sentiment.jsonl": sentiment_records, "parity.jsonl": parity_records}


def write_synthetic_tasks(folder: str | Path) -> list[Path]:
    """Write every generated task's records as JSON Lines into `folder`."""
    written = []
    for name, make in GENERATED.items():
        path = Path(folder) / name
        path.write_text("".join(json.dumps(record) + "\n" for record in make()))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_synthetic_tasks(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(path)
