"""Text normalisation shared by every reader, so that all sources reach the cutter in one shape."""

from __future__ import annotations

import re


def n_words(text: str) -> int:
    """Whitespace-separated words: the unit of every passage-length limit."""
    return len(text.split())


def clean_lines(text: str) -> str:
    """Normalise line ends, strip trailing blanks, collapse 3+ newlines, drop control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def unwrap(par: str) -> str:
    """Join the hard-wrapped lines of a prose paragraph into one line (collapsing runs of blanks)."""
    return re.sub(r"\s+", " ", par).strip()


def paragraphs(text: str) -> list[str]:
    """The non-empty blank-line-separated paragraphs of `text`, after `clean_lines`."""
    return [p for p in re.split(r"\n\s*\n", clean_lines(text)) if p.strip()]
