"""The Discover tab's thorough discovery: networks of the visitor's own that reproduce, found as a background job
(the page stays usable) with an estimate of its time before the work starts, progress by phase, and Cancel.

It streams the shipped corpus at a large token budget and measures split-half reliability, as the shipped
networks were made; the quick look (`discover.discover`) stays what it says it is.
"""

from __future__ import annotations

import time

import gradio as gr
import torch

from ..data._texts import discovery_texts
from ..discovery._ica_mask import ICAMask
from ..discovery._settings import DEFAULT_SETTINGS, DiscoverySettings
from .common import networks_markdown, show_warnings, user_errors
from .state import AppState
from .visitor import Visitor

JOB = "thorough discovery"
# Half the shipped template's 262,144 tokens, so that it takes minutes on a CPU. Its halves hold 65,536 tokens each;
# the embedded model's split-half IoU median is 0.53 at 32,768 tokens per half and 0.73 at 131,072 (docs/discovery.md,
# "How many tokens make networks reproducible"); 65,536 per half was not measured.
THOROUGH = DEFAULT_SETTINGS.replace(streaming=True, max_tokens=131_072, split_half=True)
PHASES = {
    "capture": "Recording activations",
    "decompose": "PCA + ICA and stability reruns",
    "cards": "Network cards",
    "split-half A": "Split-half reliability, first half",
    "split-half B": "Split-half reliability, second half",
}


def forward_tokens(settings: DiscoverySettings) -> int:
    """Tokens a streaming discovery runs through the model: a sketched sample, then every token once; each
    split half does the same on its half of the budget."""
    once = settings.sketch_tokens + settings.max_tokens
    halves = 2 * settings.sketch_tokens + settings.max_tokens if settings.split_half else 0
    return once + halves


def forward_rate(state: AppState, settings: DiscoverySettings) -> float:
    """Tokens per second of the shared model on this machine, timed on one text of the shipped corpus."""
    loaded = state.require_model()
    text = max(discovery_texts().texts[: settings.batch_size], key=len)
    device = next(loaded.model.parameters()).device
    ids = loaded.tokenizer(
        text, truncation=True, max_length=settings.max_length, return_tensors="pt"
    ).input_ids.to(device)
    with torch.inference_mode():
        started = time.perf_counter()
        loaded.model(input_ids=ids)
        elapsed = time.perf_counter() - started
    return ids.shape[1] / max(elapsed, 1e-6)


def estimate(state: AppState, settings: DiscoverySettings) -> str:
    """What the job will cost, said before it starts: the last one's time on this server when there was one,
    else the model's passes at its measured speed (the decomposition comes on top)."""
    last = state.heavy.last_seconds.get(JOB)
    if last is not None:
        return f"about {_minutes(last)} (the last thorough discovery here took that long)"
    rate = forward_rate(state, settings)
    passes = forward_tokens(settings) / rate
    return (
        f"at least {_minutes(passes)}: {forward_tokens(settings):,} tokens through the model at the "
        f"{rate:,.0f} tokens/s measured now, plus the decomposition"
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


@user_errors
def thorough_discovery(
    state: AppState, visitor: Visitor, request: gr.Request = None, progress: gr.Progress = gr.Progress()
) -> tuple[str, int]:
    """Run the thorough discovery in the heavy queue and make its networks the visitor's."""
    state.visit(visitor, request)
    loaded = state.require_model()
    settings = THOROUGH
    with state.heavy.turn(visitor, JOB, progress) as turn:
        expected = estimate(state, settings)
        progress(0.0, desc=f"Thorough discovery: {expected}")
        started = time.monotonic()

        def report(stage: str, fraction: float) -> None:
            elapsed = _minutes(time.monotonic() - started)
            progress(fraction, desc=f"{PHASES.get(stage, 'Finishing')} · {elapsed} so far, {expected}")

        networks = ICAMask(settings).compute_global_networks(
            loaded.model, loaded.tokenizer, None, progress=turn.checked(report)
        )
    visitor.set_networks(networks)
    show_warnings(networks.decomposition.get("notes", []))
    return networks_markdown(networks), visitor.version


def note() -> str:
    """What the thorough discovery does, for the tab."""
    return (
        f"**Thorough discovery** makes networks of your own that reproduce: {THOROUGH.num_components} networks "
        f"from {THOROUGH.max_tokens:,} tokens of the shipped corpus (streamed), {THOROUGH.stability_runs} "
        "stability reruns and a split-half check of each network. It runs in the background (minutes on a CPU, "
        "its estimate shows when it starts); use the other tabs meanwhile, Cancel stops it."
    )
