"""The per-source and per-kind counts printed after a build (the tables of assets/corpus/SOURCES.md)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from .cleaning import n_words
from .passages import Passage


def token_counter(path: str) -> Callable[[list[str]], list[int]]:
    """Token counts per text, without special tokens; imported lazily as the build needs no tokenizer."""
    p = Path(path)
    if p.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(p))
        return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(p))
    return lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def report(passages: list[Passage], tokenizer: str | None, stats_json: str | None) -> None:
    """Print Markdown tables of passages, words, characters and tokens (0 without a tokenizer)."""
    counts = token_counter(tokenizer)([p.text for p in passages]) if tokenizer else [0] * len(passages)
    by_source: dict = defaultdict(lambda: Counter())
    by_kind: dict = defaultdict(lambda: Counter())
    for p, n in zip(passages, counts, strict=True):
        for d in (by_source[(p.category, p.source)], by_kind[p.category]):
            d["passages"] += 1
            d["words"] += n_words(p.text)
            d["chars"] += len(p.text)
            d["tokens"] += n
    total = sum(counts)
    print("| kind | source | passages | words | chars | tokens |")
    print("|---|---|---:|---:|---:|---:|")
    for (kind, source), d in sorted(by_source.items()):
        print(f"| {kind} | {source} | {d['passages']} | {d['words']} | {d['chars']} | {d['tokens']} |")
    print()
    print("| kind | passages | words | tokens | share |")
    print("|---|---:|---:|---:|---:|")
    for kind, d in sorted(by_kind.items()):
        share = f"{100 * d['tokens'] / total:.1f}%" if total else "-"
        print(f"| {kind} | {d['passages']} | {d['words']} | {d['tokens']} | {share} |")
    print(f"| **total** | {len(passages)} | {sum(n_words(p.text) for p in passages)} | {total} | |")
    if stats_json:
        data = {
            "sources": {f"{k}/{s}": dict(d) for (k, s), d in sorted(by_source.items())},
            "kinds": {k: dict(d) for k, d in sorted(by_kind.items())},
            "total_tokens": total,
            "total_passages": len(passages),
        }
        Path(stats_json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
