"""Fine-tune tab, after a completed run: the same prompt through the base model and the fine-tuned one (the run's
adapter on a copy of the base, loaded for the trial and freed after), side by side."""

from __future__ import annotations

import gradio as gr

from ..analysis._generation import GenerationSettings, generate_text
from ..errors import FnsftError
from ..models._loading import load_model
from .common import action, bind, user_errors
from .state import AppState
from .visitor import Visitor

TRIAL_TOKENS = 48
DEFAULT_PROMPT = "What is Veltra?"


@user_errors
def try_adapter(
    state: AppState, visitor: Visitor, prompt: str, request: gr.Request = None
) -> tuple[str, str]:
    """(base model's answer, fine-tuned model's answer), greedy, to the same prompt."""
    state.visit(visitor, request)
    job = state.jobs.view(visitor.run_dir) if visitor.run_dir is not None else None
    if job is None or job.state != "completed" or job.adapter_dir is None:
        raise FnsftError("There is no completed run of yours yet: its adapter is tried after it completes.")
    if not prompt.strip():
        raise FnsftError("Enter a prompt first.")
    loaded = state.require_model()
    settings = GenerationSettings(max_new_tokens=TRIAL_TOKENS)
    with state.heavy.turn(visitor, "trial of the fine-tuned model"):
        tuned, _ = load_model(loaded.source, device=loaded.device, adapter=job.adapter_dir)
        base = generate_text(loaded.model, loaded.tokenizer, prompt, None, settings)
        after = generate_text(tuned, loaded.tokenizer, prompt, None, settings)
    return base, after


def build(state: AppState, visitor: gr.State, status: gr.Markdown) -> None:
    gr.Markdown("#### Try the fine-tuned model (after a completed run)")
    with gr.Row():
        prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", scale=4)
        run = gr.Button("Answer with both", scale=1)
    with gr.Row():
        base = gr.Textbox(label="Base model", lines=5, interactive=False)
        tuned = gr.Textbox(label="Fine-tuned model", lines=5, interactive=False, elem_id="tuned-answer")
    action(
        run.click,
        bind(try_adapter, state),
        [visitor, prompt],
        [base, tuned],
        api_name="try_adapter",
        heavy=True,
        visitor=visitor,
        status=status,
    )
