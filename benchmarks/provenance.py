"""Which code and machine a benchmark figure came from: the short commit (marked when fnsft/ had uncommitted
changes), the CPU model and whether it multiplies bfloat16 in hardware."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from fnsft.models import cpu_has_native_bf16


def commit_id() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "fnsft"], check=False).returncode
    return run.stdout.strip() + ("+changes" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (Linux cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    return {
        "commit": commit_id(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "bfloat16_in_hardware": cpu_has_native_bf16(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
