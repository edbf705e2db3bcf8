"""Explore tab: the current networks as figures (depth, categories, overlap, stability), a table, and the card of
the chosen network (its top contexts, activation intervals, histogram and lesion effect on the output)."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import gradio as gr

from ..analysis._card_passes import add_logit_effects, template_cards, text_activations
from ..data._texts import corpus_text
from ..errors import FnsftError
from ..networks._functional_networks import FunctionalNetworks
from ..networks._search import search_networks
from ..viz import _figures as figures
from ..viz._card_html import card_histogram, card_html, text_html
from .common import action, bind, cancel_job, escape_markdown, network_choices, status_line, user_errors
from .state import AppState
from .visitor import Visitor

TABLE_HEADERS = ["id", "label", "neurons", "layers", "explained variance", "stability", "top categories"]
NO_NETWORKS = "No networks yet: run a discovery or load a template in the Discover tab."
MAX_OWN_TEXT = 4000  # characters: one forward pass of up to 256 tokens
NO_CARDS = (
    "<p>These networks have no cards yet (a template made before cards, or an imported one). "
    "<b>Compute cards</b> runs the shipped discovery corpus through the model once (seconds to a minute).</p>"
)


def table_rows(networks: FunctionalNetworks) -> list[list]:
    """One row per network; unknown values (imported templates) stay empty."""
    counts = networks.counts_per_layer()

    def value(values, component: int) -> float | None:
        return None if values is None else round(float(values[component]), 4)

    return [
        [
            component,
            networks.label(component),
            int(counts[component].sum()),
            int((counts[component] > 0).sum()),
            value(networks.explained_variance, component),
            value(networks.stability, component),
            ", ".join(networks.top_categories(component, 3)),
        ]
        for component in range(networks.num_components)
    ]


@user_errors
def explore(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple:
    """The table and the quick figures of the visitor's networks, with the layer profile of the first one."""
    networks = state.visit(visitor, request).networks
    if networks is None:
        empty = figures.empty_figure(NO_NETWORKS)
        return [], empty, empty, empty, empty, gr.update(choices=[], value=None), empty, "", empty, None
    return (
        table_rows(networks),
        figures.layer_heatmap(networks),
        figures.category_heatmap(networks),
        figures.overlap_matrix(networks),
        figures.stability_chart(networks),
        gr.update(choices=network_choices(networks), value=0),
        figures.layer_profile(networks, 0),
        *card_panel(state, visitor, networks, 0),
    )


def card_panel(state: AppState, visitor: Visitor, networks: FunctionalNetworks, component: int) -> tuple:
    """(card HTML, histogram, export file) of one network; a note and no file when the networks have no cards.
    A card without its logit effect (a fresh discovery) gets it now, kept in the visitor's networks."""
    if networks.cards is None:
        return NO_CARDS, figures.empty_figure("No card yet: press Compute cards."), None
    card = networks.card(component)
    if card.logit_effect is None and networks.neurons[component]:  # measured on first opening (two passes)
        loaded = state.require_model()
        with state.heavy.turn(None, "card"):  # two passes of the shared model, in turn with the heavy jobs
            cards = add_logit_effects(networks, loaded.model, loaded.tokenizer, [component])
        networks = dataclasses.replace(networks, cards=cards)  # never written into shared (shipped) networks
        if visitor.networks is not None and visitor.networks.neurons is networks.neurons:
            visitor.networks = networks  # the same networks, now with this effect: no refresh needed
        card = networks.card(component)
    folder = Path(state.work_dir) / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / f"{visitor.key}-N{component}.html"
    export.write_text(card_html(card, document=True), encoding="utf-8")
    return card_html(card), card_histogram(card), str(export)


@user_errors
def network_card(
    state: AppState, visitor: Visitor, component: int | None, request: gr.Request = None
) -> tuple:
    """The card panel of the chosen network."""
    if component is None:
        return "", figures.empty_figure("Choose a network."), None
    networks = state.visit(visitor, request).require_networks()
    return card_panel(state, visitor, networks, networks.check_components([component])[0])


@user_errors
def pick_network(state: AppState, visitor: Visitor, event: gr.SelectData, request: gr.Request = None) -> int:
    """The network of the table row clicked (row i is network i), for the dropdown, which opens its card."""
    networks = state.visit(visitor, request).require_networks()
    return networks.check_components([int(event.index[0])])[0]


@user_errors
def compute_cards(
    state: AppState,
    visitor: Visitor,
    component: int | None,
    request: gr.Request = None,
    progress=gr.Progress(),
) -> tuple:
    """Cards for networks loaded without them: one pass of the shipped discovery corpus through the shared model."""
    networks = state.visit(visitor, request).require_networks()
    loaded = state.require_model()
    with state.heavy.turn(visitor, "card computation", progress) as turn:
        cards = template_cards(
            networks,
            loaded.model,
            loaded.tokenizer,
            progress=turn.checked(lambda stage, fraction: progress(fraction, desc=f"Cards: {stage}")),
        )
    networks = dataclasses.replace(networks, cards=cards)
    visitor.set_networks(networks)
    chosen = 0 if component is None else networks.check_components([component])[0]
    return card_panel(state, visitor, networks, chosen)


@user_errors
def search(state: AppState, visitor: Visitor, query: str, request: gr.Request = None) -> tuple[str, object]:
    """The networks that match a token or a category, and the first one opened."""
    networks = state.visit(visitor, request).require_networks()
    if not query.strip():
        raise FnsftError("Type a token or a category to search for.")
    hits = search_networks(networks, query)
    if not hits:
        return (
            f"No network has {escape_markdown(query.strip())!r} among its categories or top tokens.",
            gr.skip(),
        )
    lines = [f"- **{escape_markdown(networks.label(c))}**: {escape_markdown(why)}" for c, why in hits]
    return "\n".join(lines), hits[0][0]


@user_errors
def own_text(
    state: AppState, visitor: Visitor, component: int | None, text: str, request: gr.Request = None
) -> tuple[str, object]:
    """The visitor's own text with each token shaded by where the chosen network fires, and every network at
    every token (one forward pass)."""
    networks = state.visit(visitor, request).require_networks()
    if component is None:
        raise FnsftError("Choose a network first.")
    if not text.strip():
        raise FnsftError("Type a text first.")
    if len(text) > MAX_OWN_TEXT:
        raise FnsftError(f"The text has {len(text):,} characters; at most {MAX_OWN_TEXT:,} here.")
    chosen = networks.check_components([component])[0]
    loaded = state.require_model()
    tokens, values = text_activations(networks, loaded.model, loaded.tokenizer, text)
    column = values[:, chosen]
    peak = int(column.argmax())
    shaded = (
        f"<p><b>N{chosen}</b> fires most at <code>{html.escape(repr(tokens[peak]))}</code> "
        f"(mean neuron activation {column[peak]:.3f}; shading is relative to this text's highest, "
        f"over its first {len(tokens)} tokens)</p>" + text_html(tokens, column.tolist())
    )
    return shaded, figures.token_heatmap(networks, tokens, values)


@user_errors
def example_text(
    state: AppState, visitor: Visitor, component: int | None, rank: float, request: gr.Request = None
) -> tuple[str, str, object]:
    """A top example's full text (from the shipped corpus its card was made on), shown as the visitor's own
    text: (text, shaded text, every network at every token)."""
    networks = state.visit(visitor, request).require_networks()
    if component is None or networks.cards is None:
        raise FnsftError("Choose a network with a card first (Compute cards makes them).")
    examples = networks.card(networks.check_components([component])[0]).top_examples
    index = int(rank) - 1
    if not 0 <= index < len(examples):
        raise FnsftError(f"This card has top examples 1 to {len(examples)}; choose one of them.")
    full = corpus_text(examples[index].text_index, examples[index].tokens)
    if full is None:
        raise FnsftError(
            "This example's full text is not in the shipped corpus (its networks were found on other texts)."
        )
    full = full[:MAX_OWN_TEXT]
    return (full, *own_text(state, visitor, component, full, request))


@user_errors
def profile(state: AppState, visitor: Visitor, component: int | None, request: gr.Request = None):
    """The layer profile of one network."""
    if component is None:
        return figures.empty_figure("Choose a network.")
    networks = state.visit(visitor, request).require_networks()
    return figures.layer_profile(networks, networks.check_components([component])[0])


def figure_panel() -> tuple[gr.Plot, ...]:
    """Lay out the figures of the whole network set: (layers, layer profile, categories, overlap, stability)."""
    with gr.Row():
        layers = gr.Plot(label="Neurons per layer")
        layer_profile = gr.Plot(label="Layer profile")
    with gr.Row():
        categories = gr.Plot(label="Response per category")
        overlap = gr.Plot(label="Overlap")
    return layers, layer_profile, categories, overlap, gr.Plot(label="Stability")


@dataclasses.dataclass
class ExploreTab:
    """What other tabs wire to: the chosen network and the button that lesions it in Compare."""

    component: gr.Dropdown
    lesion: gr.Button


def _own_text_panel(state: AppState, component: gr.Dropdown, wiring: dict) -> None:
    """Lay out and wire the own-text panel: where the chosen network fires on a visitor's text, or on the full text
    of one of its card's top examples."""
    gr.Markdown("#### Your own text: where does the chosen network fire?")
    with gr.Row():
        text = gr.Textbox(
            label="Your text", lines=3, scale=4, placeholder="Type or paste a text (up to 256 tokens)"
        )
        with gr.Column(scale=1):
            show = gr.Button("Show activations")
            rank = gr.Number(1, precision=0, minimum=1, label="Top example of the card")
            open_example = gr.Button("Open its full text", size="sm")
    text_view = gr.HTML(elem_id="own-text")
    text_plot = gr.Plot(label="Every network at every token", elem_id="own-text-networks")
    visitor = wiring["visitor"]
    action(
        show.click,
        bind(own_text, state),
        [visitor, component, text],
        [text_view, text_plot],
        api_name="own_text",
        **wiring,
    )
    action(
        open_example.click,
        bind(example_text, state),
        [visitor, component, rank],
        [text, text_view, text_plot],
        api_name="example_text",
        **wiring,
    )


def build(state: AppState, visitor: gr.State, networks_version: gr.State) -> ExploreTab:
    """Lay out the tab: the table beside the chosen network's card (a row click opens it in view), figures below."""
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                refresh = gr.Button("Refresh figures")
                query = gr.Textbox(
                    label="Search networks", placeholder="a token or a category, e.g. def or code", scale=3
                )
            found = gr.Markdown(elem_id="network-search")
            table = gr.Dataframe(
                headers=TABLE_HEADERS, label="Network table", interactive=False, elem_id="network-table"
            )
        with gr.Column(scale=1):
            component = gr.Dropdown([], label="Network")
            with gr.Row():
                lesion = gr.Button("Lesion in Compare", variant="primary", size="sm")
                compute = gr.Button("Compute cards", size="sm")
                cancel = gr.Button("Cancel", variant="stop", size="sm")
                export = gr.DownloadButton("Export card (HTML)", value=None, size="sm")
            status = status_line("explore")
            card = gr.HTML(elem_id="network-card")
            histogram = gr.Plot(label="Activation histogram")
    layers, layer_profile, categories, overlap, stability = figure_panel()
    panel = [card, histogram, export]
    wiring = {"visitor": visitor, "status": status}
    _own_text_panel(state, component, wiring)
    cancel_job(cancel, state, **wiring, panel="explore")
    component.change(bind(profile, state), [visitor, component], layer_profile, api_name="layer_profile")
    action(  # a card opened the first time measures its logit effect, in turn with the heavy jobs
        component.change,
        bind(network_card, state),
        [visitor, component],
        panel,
        api_name="network_card",
        heavy=True,
        **wiring,
    )
    table.select(bind(pick_network, state), visitor, component, api_name="pick_network")
    action(
        query.submit,
        bind(search, state),
        [visitor, query],
        [found, component],
        api_name="search_networks",
        **wiring,
    )
    action(
        compute.click,
        bind(compute_cards, state),
        [visitor, component],
        panel,
        api_name="compute_cards",
        heavy=True,
        **wiring,
    )
    action(
        [networks_version.change, refresh.click],
        bind(explore, state),
        visitor,
        [table, layers, categories, overlap, stability, component, layer_profile, *panel],
        api_name="explore",
        **wiring,
    )
    return ExploreTab(component, lesion)
