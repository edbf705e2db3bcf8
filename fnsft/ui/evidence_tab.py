"""Evidence tab: the saved lesion, preservation and forgetting results, drawn from their JSON (the committed
file, or one a user uploads from their own run, e.g. at scale on a GPU)."""

from __future__ import annotations

import gradio as gr

from ..analysis._evidence import RUN_COMMAND, curve_series, forgetting_rows, load_evidence, setup_line
from ..viz import _figures as figures
from .common import action, escape_markdown, status_line, user_errors
from .visitor import Visitor

TABLE_HEADERS = ["method", "learned", "± std", "forgotten", "± std", "seeds"]
EVIDENCE_FILE_TYPES = [".json"]


def forgetting_table(forgetting: dict | None) -> list[list]:
    """Rows of the forgetting summary, values rounded to 3 decimals (nats/token)."""
    if not forgetting:
        return []
    return [
        [
            row["method"],
            round(row["learned"], 3),
            round(row["learned_std"], 3),
            round(row["forgotten"], 3),
            round(row["forgotten_std"], 3),
            row["seeds"],
        ]
        for row in forgetting_rows(forgetting)
    ]


def _curve_figure(evidence: dict, key: str):
    if key not in evidence:
        return figures.empty_figure(f"This file has no {key.replace('_', ' ')}.")
    return figures.masking_curve_figure(curve_series(evidence[key]))


@user_errors
def show_evidence(visitor: Visitor | None = None, upload: str | None = None) -> tuple:
    """Caption, both curves, the learned-vs-forgotten figure and its table, from `upload` or the saved file (its
    text shown as text: it comes from the file)."""
    evidence = load_evidence(upload)
    forgetting = evidence.get("forgetting")
    caption = f"**{'Uploaded' if upload else 'Saved'} evidence:** {escape_markdown(setup_line(evidence))}"
    return (
        caption,
        _curve_figure(evidence, "lesion_curve"),
        _curve_figure(evidence, "preserve_curve"),
        figures.forgetting_figure(forgetting_rows(forgetting))
        if forgetting
        else figures.empty_figure("This file has no forgetting experiment."),
        forgetting_table(forgetting),
    )


def build(demo: gr.Blocks, visitor: gr.State) -> None:
    gr.Markdown(
        "Lesioning or keeping only the networks, against random neurons of equal count per layer, and what each "
        f"fine-tuning method learned and forgot. Made by `{RUN_COMMAND}`; upload the `evidence.json` of your own "
        "run to see it here."
    )
    upload = gr.File(
        label="evidence.json (optional)", file_types=EVIDENCE_FILE_TYPES, elem_id="evidence-upload"
    )
    status = status_line("evidence")
    caption = gr.Markdown(elem_id="evidence-caption")
    with gr.Row():
        lesion = gr.Plot(label="Lesion curve")
        preserve = gr.Plot(label="Preservation curve")
    forgetting = gr.Plot(label="Learned vs forgotten")
    table = gr.Dataframe(headers=TABLE_HEADERS, label="Fine-tuning methods (nats/token)", interactive=False)
    outputs = [caption, lesion, preserve, forgetting, table]
    wiring = {"visitor": visitor, "status": status}
    action(demo.load, show_evidence, visitor, outputs, api_name="evidence", **wiring)
    action(
        upload.upload,
        show_evidence,
        [visitor, upload],
        outputs,
        api_name="evidence_upload",
        reset_on_failure=[upload],
        **wiring,
    )
    upload.clear(show_evidence, visitor, outputs, api_visibility="private")
