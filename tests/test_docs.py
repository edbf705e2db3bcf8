"""The README's links: each names a file that exists, so a page moved or renamed in docs/ cannot leave the front
page pointing at nothing. (Links inside docs/ are checked by `mkdocs build --strict`, which `make test` runs.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def relative_links(markdown: str) -> list[str]:
    return [target for target in LINK.findall(markdown) if "://" not in target]


def test_every_relative_link_of_the_readme_names_an_existing_file():
    links = relative_links((ROOT / "README.md").read_text())
    assert "docs/getting-started.md" in links
    assert [target for target in links if not (ROOT / target).is_file()] == []
