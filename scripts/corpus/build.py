"""Build fnsft's discovery corpus, ``assets/corpus/corpus.jsonl``, from raw redistributable sources.

The command line and the orchestration: read every source in a fixed order, filter and sample each pool,
shuffle and write. Run it through ``scripts/build_corpus.py``, whose docstring gives the inputs and the
exact command.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from .books import source_alice, source_as_you_like_it, source_austen, source_paradise_lost
from .licences import source_common_licenses, source_cpython_license
from .passages import Passage
from .python_sources import source_python_docs, source_stdlib_code, source_stdlib_datafiles
from .reference import source_devil, source_jargon, source_wordnet
from .report import report
from .scripture import source_sword
from .selection import BUDGET_CHARS, GROUP_CAP, SEED, filter_pool, select
from .tz import source_tz_commentary, source_tz_tables, source_tz_theory


def _loaders(args: argparse.Namespace) -> list[tuple[str, Callable[[], list[Passage]]]]:
    """(source id, reader) in build order; the order matters, as de-duplication keeps the first copy."""
    stdlib = Path(args.stdlib)
    canterbury = Path(args.canterbury)
    tzdata = Path(args.tzdata)
    return [
        ("cpython-stdlib-code", lambda: source_stdlib_code(stdlib)),
        ("python-docs", lambda: source_python_docs(Path(args.python_doc_info))),
        ("austen-novels", lambda: source_austen(Path(args.janeaustenr))),
        ("alice-in-wonderland", lambda: source_alice(canterbury)),
        ("as-you-like-it", lambda: source_as_you_like_it(canterbury)),
        ("paradise-lost", lambda: source_paradise_lost(canterbury)),
        (
            "world-english-bible",
            lambda: source_sword(Path(args.sword_web), "world-english-bible", "scripture"),
        ),
        ("reina-valera-1909", lambda: source_sword(Path(args.sword_sparv), "reina-valera-1909", "spanish")),
        ("wordnet-glosses", lambda: source_wordnet(Path(args.wordnet))),
        ("jargon-file", lambda: source_jargon(Path(args.jargon))),
        ("devils-dictionary", lambda: source_devil(Path(args.devil))),
        ("tz-commentary", lambda: source_tz_commentary(tzdata)),
        ("tz-theory", lambda: source_tz_theory(tzdata)),
        ("tz-tables", lambda: source_tz_tables(tzdata)),
        ("cpython-datafiles", lambda: source_stdlib_datafiles(stdlib)),
        ("debian-common-licenses", lambda: source_common_licenses(Path(args.common_licenses))),
        ("cpython-license", lambda: source_cpython_license(stdlib)),
    ]


def build(args: argparse.Namespace) -> list[Passage]:
    """The corpus passages in their final (seeded, shuffled) order; pool sizes are logged to stderr."""
    seen: set[str] = set()
    chosen: list[Passage] = []
    for source, load in _loaders(args):
        pool, n_blocked, n_dup = filter_pool(load(), source, seen)
        taken = select(pool, BUDGET_CHARS[source], GROUP_CAP.get(source), source)
        print(
            f"{source:24s} pool {len(pool):6d} passages ({sum(len(p.text) for p in pool):9d} chars; "
            f"{n_blocked} blocked, {n_dup} duplicates) -> {len(taken)} taken",
            file=sys.stderr,
        )
        chosen.extend(taken)
    random.Random(SEED).shuffle(chosen)
    return chosen


def write_corpus(passages: list[Passage], out: Path) -> None:
    """Plain JSONL (git diffs it, every fnsft reader takes it), one passage a line."""
    lines = [
        json.dumps({"text": p.text, "category": p.category, "source": p.source}, ensure_ascii=False)
        for p in passages
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stdlib", required=True, help="CPython 3.11 Lib/ folder (sysconfig 'stdlib' path)")
    ap.add_argument("--python-doc-info", required=True, help="python3.11.info.gz from Debian python3.11-doc")
    ap.add_argument(
        "--janeaustenr", required=True, help="the janeaustenr R package folder (r-cran-janeaustenr)"
    )
    ap.add_argument(
        "--canterbury", required=True, help="brotli sdist tests/testdata (alice29, asyoulik, plrabn12)"
    )
    ap.add_argument("--sword-web", required=True, help="SWORD module folder engWEB2015eb (sword-text-web)")
    ap.add_argument("--sword-sparv", required=True, help="SWORD module folder spaRV1909eb (sword-text-sparv)")
    ap.add_argument("--wordnet", required=True, help="WordNet 3.0 database folder (wordnet-base)")
    ap.add_argument("--jargon", required=True, help="jargon.txt.gz (jargon-text)")
    ap.add_argument("--devil", required=True, help="folder with devil.index and devil.dict.dz (dict-devil)")
    ap.add_argument("--tzdata", required=True, help="unpacked tz data release (tzdata source)")
    ap.add_argument("--common-licenses", required=True, help="/usr/share/common-licenses (base-files)")
    ap.add_argument("--out", default="assets/corpus/corpus.jsonl")
    ap.add_argument("--tokenizer", help="tokenizer.json or a model folder: report token counts")
    ap.add_argument("--stats-json", help="also write the counts as JSON here")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Build, write and report; returns the process exit status."""
    args = _parser().parse_args(argv)
    passages = build(args)
    write_corpus(passages, Path(args.out))
    print(
        f"wrote {len(passages)} passages to {args.out} ({Path(args.out).stat().st_size} bytes)",
        file=sys.stderr,
    )
    report(passages, args.tokenizer, args.stats_json)
    return 0
