"""The files a visitor downloads from their run: the report, the adapter and the last checkpoint, each zipped once
into the visitor's own folder (never a run folder path handed to the page)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .jobs import JobSnapshot
from .state import AppState
from .visitor import Visitor


def _zip(archive: Path, parts: dict[str, Path]) -> str:
    """Write `parts` (name in the zip -> file or folder) into `archive` once; its path as a string."""
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, path in parts.items():
                files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
                for file in files:
                    inside = name if file == path else f"{name}/{file.relative_to(path)}"
                    bundle.write(file, inside)
        partial.replace(archive)  # a half-written zip is never offered
    return str(archive)


def adapter_zip(state: AppState, visitor: Visitor, job: JobSnapshot) -> str | None:
    """The finished run's adapter as a zip, with the networks file it was trained with and its report."""
    if job.adapter_dir is None or not job.finished:
        return None
    extras = {name: job.run_dir / name for name in ("networks.json", "forgetting_report.json")}
    parts = {"adapter": job.adapter_dir, **{n: p for n, p in extras.items() if p.is_file()}}
    return _zip(state.work_dir / "zips" / visitor.key / f"{job.run_dir.name}-adapter.zip", parts)


def checkpoint_zip(state: AppState, visitor: Visitor, job: JobSnapshot) -> str | None:
    """The last complete checkpoint of a run that did not complete, as a zip."""
    if job.checkpoint is None or job.state == "completed" or not job.finished:
        return None
    name = f"{job.run_dir.name}-{job.checkpoint.name}.zip"
    return _zip(state.work_dir / "zips" / visitor.key / name, {job.checkpoint.name: job.checkpoint})


def report_file(state: AppState, visitor: Visitor, job: JobSnapshot) -> str | None:
    """The forgetting report as a JSON file to download (written once: a run's report is final, and the panel
    is polled every few seconds)."""
    if job.report is None:
        return None
    target = state.work_dir / "zips" / visitor.key / f"{job.run_dir.name}-forgetting_report.json"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(job.report, indent=1))
    return str(target)
