"""Which code a benchmark figure came from: the short commit, marked when fnsft/ had uncommitted changes."""

from __future__ import annotations

import subprocess


def commit_id() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "fnsft"], check=False).returncode
    return run.stdout.strip() + ("+changes" if dirty else "")
