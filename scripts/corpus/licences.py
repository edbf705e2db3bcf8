"""Readers of the licence texts (legal), kept whole and with their line breaks."""

from __future__ import annotations

from pathlib import Path

from .cleaning import clean_lines, paragraphs
from .passages import Passage, pack

# Debian's /usr/share/common-licenses less GPL-1, LGPL-2 and GFDL-1.2, which nearly repeat GPL-2, LGPL-2.1
# and GFDL-1.3. Licence texts keep their line breaks: they are cut only between paragraphs.
_COMMON_LICENSES = (
    "Apache-2.0",
    "Artistic",
    "BSD",
    "CC0-1.0",
    "GFDL-1.3",
    "GPL-2",
    "GPL-3",
    "LGPL-2.1",
    "LGPL-3",
    "MPL-1.1",
    "MPL-2.0",
)


def source_common_licenses(cldir: Path) -> list[Passage]:
    """Legal: Debian's common licences; group = licence."""
    out = []
    for name in _COMMON_LICENSES:
        text = clean_lines((cldir / name).read_text(encoding="utf-8"))
        for t in pack(paragraphs(text), lines=True):
            out.append(Passage(t, "legal", "debian-common-licenses", name))
    return out


def source_cpython_license(stdlib: Path) -> list[Passage]:
    """Legal: CPython's LICENSE.txt (the PSF licence history and terms)."""
    text = clean_lines((stdlib / "LICENSE.txt").read_text(encoding="utf-8"))
    return [Passage(t, "legal", "cpython-license", "LICENSE.txt") for t in pack(paragraphs(text), lines=True)]
