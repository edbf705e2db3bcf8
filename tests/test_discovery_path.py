"""streaming=None chooses the discovery path per run, says which, and the networks record the path taken."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer

import fnsft.discovery._path as discovery_path
from fnsft import ICAMask
from fnsft.discovery._path import STREAMING_FROM_TOKENS, choose_streaming
from fnsft.discovery._settings import DiscoverySettings


def _discover(caplog, **settings):
    finder = ICAMask(
        num_components=3, stability_runs=0, cards=False, sketch_rows=40, sketch_tokens=200, **settings
    )
    with caplog.at_level(logging.INFO, logger="fnsft.discovery._path"):
        networks = finder.compute_global_networks(tiny_llama(), CharTokenizer(), TEXTS, max_tokens=500)
    return networks, [
        record.getMessage() for record in caplog.records if record.name == "fnsft.discovery._path"
    ]


def test_the_default_is_open_and_a_small_budget_stays_in_memory(caplog):
    assert DiscoverySettings().streaming is None
    networks, lines = _discover(caplog)
    assert networks.settings.streaming is False  # the path taken, as the template will record it
    assert len(lines) == 1 and lines[0].startswith("Discovery path: in memory") and "500 tokens" in lines[0]


def test_from_the_crossover_the_default_streams_and_explicit_settings_still_force_either(caplog, monkeypatch):
    monkeypatch.setattr(discovery_path, "STREAMING_FROM_TOKENS", 400)
    networks, lines = _discover(caplog)
    assert networks.settings.streaming is True and lines[0].startswith("Discovery path: streaming")
    caplog.clear()
    forced, lines = _discover(caplog, streaming=False)
    assert forced.settings.streaming is False and lines == []  # a setting given is obeyed, with no line


def test_a_matrix_that_would_not_fit_streams(monkeypatch):
    monkeypatch.setattr(discovery_path.psutil, "virtual_memory", lambda: SimpleNamespace(available=10**9))
    streams, reason = choose_streaming(8192, 46080, torch.float32, distributed=False)  # 1.8 GB with workspace
    assert streams and "would need about 1.8 GB and 1.0 GB is available" in reason
    assert choose_streaming(STREAMING_FROM_TOKENS, 10, torch.float32, distributed=False)[0]
    assert not choose_streaming(STREAMING_FROM_TOKENS - 1, 10, torch.float32, distributed=False)[0]
    assert choose_streaming(100, 10, torch.float32, distributed=True) == (
        True,
        "data-parallel discovery streams its statistics",
    )


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_streaming_is_true_false_or_none(value):
    with pytest.raises(ValueError, match="must be True or False"):
        DiscoverySettings(streaming=value)
