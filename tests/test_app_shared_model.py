"""One model serving several requests at once: what one request does must not reach another's forward passes."""

from __future__ import annotations

import threading

import torch

from fnsft.discovery._capture import capture_activations


class Tokenizer:
    pad_token_id = 0

    def __call__(self, texts, **_):
        return {"input_ids": [[3 + i % 100 for i in range(60)] for _ in texts]}


def test_recording_activations_leaves_other_threads_forward_passes_alone(tiny_model):
    errors: list[str] = []
    expected = tiny_model(input_ids=torch.tensor([[5, 6, 7]])).logits.detach()
    started = threading.Event()

    def generate_meanwhile() -> None:
        started.set()
        for _ in range(100):
            try:
                with torch.no_grad():
                    logits = tiny_model(input_ids=torch.tensor([[5, 6, 7]])).logits
                assert torch.allclose(logits, expected)
            except Exception as error:  # noqa: BLE001 - the test reports whatever broke
                errors.append(repr(error))
                return

    thread = threading.Thread(target=generate_meanwhile)
    thread.start()
    started.wait()
    captured = capture_activations(tiny_model, Tokenizer(), ["x"] * 300, max_tokens=18_000, batch_size=4)
    thread.join()
    assert errors == []
    assert captured.matrix.shape == (18_000, 3 * 48)
