"""fnsft's neuron sites in the names TransformerLens and nnsight give them, so a neuron id found here can be read
or patched with their hooks: neuron j of layer L is index j of the activation at the named site.

"intermediate" neurons are the input of each block's MLP down-projection (TransformerLens:
`blocks.{layer}.mlp.hook_post`, the activation its W_out reads); "mlp_output" channels are that projection's output
(`blocks.{layer}.hook_mlp_out`). nnsight mirrors the Hugging Face module tree, so its path depends on the family.
"""

from __future__ import annotations

from ._architectures import ARCHITECTURES

TRANSFORMER_LENS = {
    "intermediate": "blocks.{layer}.mlp.hook_post",
    "mlp_output": "blocks.{layer}.hook_mlp_out",
}
FNSFT_SITES = {
    "intermediate": "input of layer {layer}'s MLP down-projection (post-activation neurons)",
    "mlp_output": "output of layer {layer}'s MLP down-projection",
}


def nnsight_site(granularity: str, model_type: str = "llama") -> str:
    """The nnsight envoy of the site, e.g. `model.model.layers[{layer}].mlp.down_proj.input` (a family fnsft
    does not know gets the Llama layout)."""
    spec = ARCHITECTURES.get(model_type, ARCHITECTURES["llama"])
    end = "input" if granularity == "intermediate" else "output"
    return f"model.{spec.layers[0]}[{{layer}}].{spec.down_proj}.{end}"


def hook_site_names(granularity: str, model_type: str = "llama") -> dict[str, str]:
    """The site of `granularity` neurons named by fnsft, TransformerLens and nnsight ({layer} to fill in).

    >>> hook_site_names("intermediate")["transformer_lens"].format(layer=3)
    'blocks.3.mlp.hook_post'
    """
    return {
        "fnsft": FNSFT_SITES[granularity],
        "transformer_lens": TRANSFORMER_LENS[granularity],
        "nnsight": nnsight_site(granularity, model_type),
    }
