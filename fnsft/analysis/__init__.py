"""Analysis: what a mask does (loss by category against random controls, the gain sweep), side-by-side
generation, each network's effect on the output logits, drift after fine-tuning, and the saved evidence."""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_evaluation": (
            "EffectReport",
            "gain_sweep",
            "loss_by_category",
            "measure_effect",
            "sample_std",
            "token_losses",
        ),
        "_generation": ("GenerationSettings", "compare_next_token", "generate_text", "stream_comparison"),
        "_card_passes": ("add_logit_effects", "template_cards", "text_activations"),
        "_drift": ("DriftReport", "compare_networks", "drift"),
        "_evidence": (
            "CURVE_TEXT",
            "CurveSeries",
            "EVIDENCE_JSON",
            "curve_series",
            "forgetting_rows",
            "load_evidence",
        ),
    },
)
