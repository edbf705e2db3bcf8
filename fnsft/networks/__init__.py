"""Networks: the `FunctionalNetworks` object a discovery returns, its cards, template files (versioned JSON,
checked field by field), Hugging Face folders, one-to-one matching of two sets, and search by what drives them."""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "_functional_networks": ("FunctionalNetworks",),
        "_cards": ("NetworkCard",),
        "_templates": ("check_compatible", "load_templates", "save_templates"),
        "_hub": ("from_pretrained", "push_to_hub", "save_pretrained"),
        "_matching": (
            "assign",
            "map_correlations",
            "match_components",
            "match_networks",
            "matched_correlations",
        ),
        "._resources": ("shipped_template",),
        "_search": ("search_networks",),
    },
)
