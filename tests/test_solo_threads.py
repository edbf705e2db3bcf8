"""Discovery's single-threaded linear algebra changes no other thread's torch thread count (issue 27)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from conftest import WORDS, tiny_llama, word_tokenizer

import fnsft.discovery._fastica as fastica_module
import fnsft.discovery._solo_threads as solo_threads
from fnsft import ICAMask
from fnsft.discovery._solo_threads import _openmp_runtime, in_one_thread, map_in_one_thread_each

TEXTS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(24)) for i in range(40)]


def _count_in_a_new_thread() -> int:
    """What a request starting now (a new thread) gets as its torch thread count."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


def _discover(model) -> list[dict[int, list[int]]]:
    finder = ICAMask(num_components=4, threshold=1.5, stability_runs=2, max_iter=100, cards=False)
    networks = finder.compute_global_networks(model, word_tokenizer(), TEXTS, max_tokens=800)
    return [{layer: list(map(int, ids)) for layer, ids in sets.items()} for sets in networks.neurons]


def test_two_concurrent_discoveries_leave_other_requests_thread_count_alone(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))  # with one thread, a drop to one could not show
    try:
        count = torch.get_num_threads()
        seen_by_others, seen_by_fastica = [], []
        solve = fastica_module.fastica

        def probing(*args, **kwargs):  # while FastICA runs, another request starts
            seen_by_others.append(_count_in_a_new_thread())
            seen_by_fastica.append(torch.get_num_threads())
            return solve(*args, **kwargs)

        monkeypatch.setattr(fastica_module, "fastica", probing)
        model = tiny_llama()
        alone = _discover(model)
        with ThreadPoolExecutor(2) as requests:
            together = list(requests.map(_discover, [model, model]))
        assert seen_by_others and set(seen_by_others) == {count}
        assert torch.get_num_threads() == count and _count_in_a_new_thread() == count
        if _openmp_runtime() is not None:  # the solves themselves ran on one thread
            assert set(seen_by_fastica) == {1}
        assert together == [alone, alone]  # side by side, each found what it finds alone
        assert any(any(sets.values()) for sets in alone)
    finally:
        torch.set_num_threads(before)


def test_work_in_one_thread_returns_its_results_in_order_and_raises_its_errors():
    assert map_in_one_thread_each(lambda x: x * x, range(7)) == [x * x for x in range(7)]
    assert in_one_thread(lambda: map_in_one_thread_each(str, [1, 2])) == ["1", "2"]  # nested: runs inline
    try:
        in_one_thread(int, "not a number")
    except ValueError as error:
        assert "not a number" in str(error)
    else:
        raise AssertionError("the worker's error did not reach the caller")


def test_workers_made_after_a_thread_count_change_still_run_mkl_on_one_thread(monkeypatch):
    """torch.set_num_threads also hands MKL's count to every thread that starts using torch afterwards. A worker
    made then ran its QR on two MKL threads, last bits apart from an earlier worker's, and two same-seed
    discoveries in one process differed (issue 27: found in a shuffled order of the suite)."""
    block = torch.randn(800, 144, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(
        solo_threads, "_pool", None
    )  # new workers, made before this test's thread count change
    before = torch.get_num_threads()
    try:
        earlier = in_one_thread(torch.linalg.qr, block).Q
        solo_threads._pool.shutdown()
        torch.set_num_threads(max(2, before))
        solo_threads._pool = None  # the next call makes new workers
        later = in_one_thread(torch.linalg.qr, block).Q
        mkl = solo_threads._mkl_runtime()
        counts = map_in_one_thread_each(lambda _: mkl.mkl_get_max_threads() if mkl else 1, range(4))
    finally:
        solo_threads._pool.shutdown()
        torch.set_num_threads(before)
    assert set(counts) == {1}
    assert torch.equal(earlier, later)
