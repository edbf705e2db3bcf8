"""Integration: the shipped networks of the embedded model, through the real loading path."""

from __future__ import annotations

import pytest

from fnsft._resources import shipped_template
from fnsft.analysis._evaluation import measure_effect
from fnsft.data import DEFAULT_PROMPTS, load_labelled_texts, per_category
from fnsft.networks._templates import load_templates

pytestmark = pytest.mark.integration


def test_shipped_templates_fit_the_embedded_model(embedded):
    model, _ = embedded
    networks = load_templates(shipped_template(model), model)
    assert networks.num_components == 20
    assert networks.granularity == "intermediate"
    assert networks.shape.total_neurons == 46080
    assert networks.stable().mean() >= 0.75


def test_lesioning_the_shipped_networks_hurts_far_more_than_random_neurons(embedded):
    model, tokenizer = embedded
    networks = load_templates(shipped_template(model), model)
    texts = per_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval"), 2)
    report = measure_effect(model, tokenizer, networks, range(networks.num_components), texts, random_draws=1)
    increase = report.network["all"] - report.baseline["all"]
    assert increase > 2.0  # nats per token: the networks carry the model's competence
    assert report.ratio() > 3.0  # random neurons of equal count per layer hurt far less
