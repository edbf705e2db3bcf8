"""Templates tab: export the chosen networks as a template file, import one, list the shipped ones."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import gradio as gr

from .._resources import SHIPPED_TEMPLATES_DIR
from ..errors import TemplateError
from ..networks._templates import load_templates, save_templates
from .common import action, bind, networks_markdown, status_line, user_errors
from .hub_networks import export_networks_zip, load_hub_networks
from .state import AppState
from .visitor import Visitor

TEMPLATE_FILE_TYPES = [".json"]
TABLE_HEADERS = ["file", "name", "model", "networks", "neurons", "granularity"]


def shipped_template_names() -> list[str]:
    return sorted(path.name for path in SHIPPED_TEMPLATES_DIR.glob("*.json"))


def shipped_table() -> list[list]:
    """One row per shipped template; a file that does not validate says why in its row."""
    rows = []
    for name in shipped_template_names():
        try:
            networks = load_templates(SHIPPED_TEMPLATES_DIR / name)
        except TemplateError as error:
            rows.append([name, f"unreadable: {error}", "", 0, 0, ""])
            continue
        rows.append(
            [
                name,
                networks.name,
                networks.model_id,
                networks.num_components,
                int(networks.sizes().sum()),
                networks.granularity,
            ]
        )
    return rows


@user_errors
def load_template(
    state: AppState, visitor: Visitor, shipped: str | None, upload: str | None, request: gr.Request = None
) -> tuple[str, int]:
    """Make a template's networks the visitor's current ones: an uploaded file wins over a shipped one."""
    state.visit(visitor, request)
    if upload:
        path = Path(upload)
    elif shipped in shipped_template_names():  # only names listed here: no path from the page is trusted
        path = SHIPPED_TEMPLATES_DIR / shipped
    else:
        raise TemplateError("Choose a shipped template or upload a template file (.json) first.")
    model = state.require_model().model
    with state.heavy.turn(visitor, "template import"):  # a large file parses for seconds: one at a time
        networks = load_templates(path, model)
    visitor.set_networks(networks)
    return networks_markdown(networks), visitor.version


@user_errors
def export_template(
    state: AppState, visitor: Visitor, name: str, ids: list[int] | None, request: gr.Request = None
) -> str:
    """Write the chosen networks (all when none is chosen) as a template file to download."""
    networks = state.visit(visitor, request).require_networks()
    chosen = networks.select(ids) if ids else networks
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.") or "networks"
    chosen = dataclasses.replace(chosen, name=clean)
    folder = state.work_dir / "exports" / visitor.key
    folder.mkdir(
        parents=True, exist_ok=True
    )  # one folder per visitor: two visitors' same names never collide
    return str(save_templates(chosen, folder / f"{clean}.json"))


def import_template(state: AppState, visitor: Visitor, upload: str | None, request: gr.Request = None):
    """The Templates tab's import: an uploaded file only."""
    return load_template(state, visitor, None, upload, request)


def refresh_shipped() -> tuple[dict, list[list]]:
    """The shipped templates now on disk, for the Discover dropdown and this tab's table."""
    return gr.update(choices=shipped_template_names()), shipped_table()


@dataclasses.dataclass
class TemplatesTab:
    selector: gr.Dropdown
    table: gr.Dataframe


def build(state: AppState, visitor: gr.State, networks_version: gr.State) -> TemplatesTab:
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Export")
            selector = gr.Dropdown(
                [], multiselect=True, label="Networks to export (none = all)", elem_id="export-networks"
            )
            name = gr.Textbox("my-networks", label="Template name")
            export = gr.Button("Export template", variant="primary")
            download = gr.File(label="Template file", interactive=False)
            export_zip = gr.Button("Download as a networks folder (.zip, save_pretrained layout)")
        with gr.Column():
            gr.Markdown("#### Import")
            upload = gr.File(
                label="Template file (.json)", file_types=TEMPLATE_FILE_TYPES, elem_id="template-import"
            )
            hub_id = gr.Textbox(label="or a Hub repo id (owner/name; needs the Hub or its cache)")
            load_hub = gr.Button("Load from the Hub")
            summary = gr.Markdown()
    status = status_line("templates")
    gr.Markdown("#### Shipped templates (`ica_templates/`)")
    table = gr.Dataframe(shipped_table(), headers=TABLE_HEADERS, interactive=False)
    wiring = {"visitor": visitor, "status": status}
    action(
        export.click,
        bind(export_template, state),
        [visitor, name, selector],
        download,
        api_name="export_template",
        **wiring,
    )
    action(
        upload.upload,
        bind(import_template, state),
        [visitor, upload],
        [summary, networks_version],
        api_name="import_template",
        heavy=True,
        reset_on_failure=[upload],
        **wiring,
    )
    action(
        export_zip.click,
        bind(export_networks_zip, state),
        [visitor, name, selector],
        download,
        api_name="export_networks_zip",
        **wiring,
    )
    action(
        load_hub.click,
        bind(load_hub_networks, state),
        [visitor, hub_id],
        [summary, networks_version],
        api_name="load_hub_networks",
        heavy=True,
        **wiring,
    )
    return TemplatesTab(selector, table)
