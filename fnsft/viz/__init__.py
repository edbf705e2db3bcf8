"""Figures: Plotly figures of networks, effects and training runs (data in, figure out), and network cards as
self-contained HTML."""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_figures": ("effect_chart", "forgetting_figure", "layer_heatmap", "masking_curve_figure"),
        "_training_figures": ("drift_chart", "forgetting_chart"),
        "_card_html": ("card_histogram", "card_html", "text_html"),
    },
)
