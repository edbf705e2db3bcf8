"""Add neuron means to a template that lacks them, leaving its networks as they are (one capture pass).

    .venv/bin/python scripts/add_template_means.py ica_templates/SmolLM2-135M-Instruct.json [--model ID]

The means are measured on the template's own recipe (the shipped prompt set's discovery split, the token budget,
length and chat format recorded in the template), so they are the means its discovery would have recorded.
Rebuilding instead would rerun the decomposition and, with a changed decomposition, change the networks too.
"""

from __future__ import annotations

import argparse

from fnsft.discovery._means import with_neuron_means
from fnsft.models import load_model
from fnsft.networks._templates import load_templates, save_templates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("template")
    parser.add_argument("--model", default=None, help="default: the embedded model")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    model, tokenizer = load_model(args.model, device=args.device)
    networks = load_templates(args.template, model)
    print(f"wrote {save_templates(with_neuron_means(networks, model, tokenizer), args.template)}")


if __name__ == "__main__":
    main()
