"""Explore tab: the current networks as figures (depth, categories, overlap, stability, 2-D map) and a table."""

from __future__ import annotations

import gradio as gr

from .. import figures
from ..functional_networks import FunctionalNetworks
from .common import bind, network_choices, user_errors
from .state import AppState
from .visitor import Visitor

TABLE_HEADERS = ["id", "label", "neurons", "layers", "explained variance", "stability", "top categories"]
NO_NETWORKS = "No networks yet: run a discovery or load a template in the Discover tab."


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
        return [], empty, empty, empty, empty, gr.update(choices=[], value=None), empty
    return (
        table_rows(networks),
        figures.layer_heatmap(networks),
        figures.category_heatmap(networks),
        figures.overlap_matrix(networks),
        figures.stability_chart(networks),
        gr.update(choices=network_choices(networks), value=0),
        figures.layer_profile(networks, 0),
    )


@user_errors
def network_map(state: AppState, visitor: Visitor, request: gr.Request = None):
    """The 2-D map of the networks, separate because UMAP takes seconds (much more on its first call).

    Drawn again when the visitor's networks changed meanwhile, so a slow map of the old networks never ends up
    in the page of the new ones."""
    state.visit(visitor, request)
    while True:
        version, networks = visitor.version, visitor.networks
        figure = figures.empty_figure(NO_NETWORKS) if networks is None else figures.component_map(networks)
        if visitor.version == version:
            return figure


@user_errors
def profile(state: AppState, visitor: Visitor, component: int | None, request: gr.Request = None):
    """The layer profile of one network."""
    if component is None:
        return figures.empty_figure("Choose a network.")
    networks = state.visit(visitor, request).require_networks()
    return figures.layer_profile(networks, networks.check_components([component])[0])


def build(state: AppState, demo: gr.Blocks, visitor: gr.State, networks_version: gr.State) -> None:
    refresh = gr.Button("Refresh figures")
    table = gr.Dataframe(headers=TABLE_HEADERS, label="Network table", interactive=False)
    with gr.Row():
        layers = gr.Plot(label="Neurons per layer")
        with gr.Column():
            component = gr.Dropdown([], label="Network")
            layer_profile = gr.Plot(label="Layer profile")
    with gr.Row():
        categories = gr.Plot(label="Response per category")
        overlap = gr.Plot(label="Overlap")
    with gr.Row():
        stability = gr.Plot(label="Stability")
        embedding = gr.Plot(label="Map of networks")
    component.change(bind(profile, state), [visitor, component], layer_profile, api_name="layer_profile")
    gr.on(
        [networks_version.change, refresh.click],
        bind(explore, state),
        visitor,
        [table, layers, categories, overlap, stability, component, layer_profile],
        api_name="explore",
    ).then(bind(network_map, state), visitor, embedding, api_name="network_map")
