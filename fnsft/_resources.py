"""Data that ships inside the package (prompt set, sample fine-tuning data, shipped templates, saved evidence).

Found with importlib.resources, so an installed wheel finds its files wherever it lives; in the repository the
entries of `fnsft/_data/` are links to the top-level folders that keep the one copy.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from .errors import FnsftError

PACKAGE_PREFIX = "fnsft:"


def bundled(name: str) -> Path:
    """The path of a shipped file or folder, e.g. bundled("prompts/multidomain.jsonl")."""
    return Path(str(files("fnsft") / "_data" / name))


DEFAULT_PROMPTS = bundled("prompts/multidomain.jsonl")
DEFAULT_CORPUS = bundled("corpus/corpus.jsonl")  # the discovery corpus (corpus/SOURCES.md: what and whose)
SAMPLE_DATA = bundled("sample_sft.jsonl")
SHIPPED_TEMPLATES_DIR = bundled("ica_templates")
EVIDENCE_JSON = bundled("evidence.json")


def portable_name(source: str | os.PathLike) -> str:
    """A name for provenance that means the same on every machine: `fnsft:<name>` for shipped data, the path
    relative to the working folder for a file under it, else the file's own name (never a machine path)."""
    path = Path(source)
    resolved = path.resolve()
    for name in ("prompts/multidomain.jsonl", "corpus/corpus.jsonl", "sample_sft.jsonl"):
        if resolved == bundled(name).resolve():
            return PACKAGE_PREFIX + name
    if resolved.parent == SHIPPED_TEMPLATES_DIR.resolve():
        return f"{PACKAGE_PREFIX}ica_templates/{path.name}"
    if resolved.is_relative_to(Path.cwd().resolve()):
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    return path.name


def shipped_template(model) -> Path:
    """The template shipped for `model` (found by its model id); a clear error when none ships for it."""
    from .models._loading import model_id

    path = SHIPPED_TEMPLATES_DIR / f"{model_id(model)}.json"
    if not path.is_file():
        raise FnsftError(f"No shipped template for {model_id(model)}; pass --templates or build one first.")
    return path
