"""Find networks by what drives them: a category they respond to, or a token in their cards' top contexts."""

from __future__ import annotations

from ._functional_networks import FunctionalNetworks


def search_networks(networks: FunctionalNetworks, query: str, limit: int = 20) -> list[tuple[int, str]]:
    """(network id, why it matched) for each network whose top categories or top-activating tokens contain
    `query` (case-insensitive), category matches first.

    >>> shipped = fnsft.load_templates("ica_templates/SmolLM2-135M-Instruct.json")
    >>> search_networks(shipped, "code")
    [(..., 'category code')...]
    """
    wanted = query.strip().lower()
    if not wanted:
        return []
    by_category, by_token = [], []
    for component in range(networks.num_components):
        categories = [name for name in networks.top_categories(component, 3) if wanted in name.lower()]
        if categories:
            by_category.append((component, f"category {categories[0]}"))
        elif networks.cards is not None:
            card = networks.card(component)
            tokens = [example.tokens[example.position] for example in card.top_examples]
            found = next((token for token in tokens if wanted in token.lower()), None)
            if found is not None:
                by_token.append((component, f"token {found!r} in its top contexts"))
    return (by_category + by_token)[:limit]
