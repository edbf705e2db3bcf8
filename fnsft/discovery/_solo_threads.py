"""Worker threads that each run torch on one CPU thread, without changing the thread count of any other thread.

Discovery's small linear algebra (FastICA on [neurons x k] samples, QR and SVD of [tokens x 200] blocks, the
stability reruns) runs many short operations. Split over several CPU threads they wait on each other, and on a
busy machine each wait can last a scheduler slice: FastICA was 10-20x slower on two threads than on one here
(2 cores, load 10). `torch.set_num_threads(1)` would fix that but is process-wide: it is the default every thread
started meanwhile takes for good (another visitor's request on a server). OpenMP's own `omp_set_num_threads`,
called in a thread, sets only that thread's count (OpenMP's nthreads-var is per thread); torch's CPU kernels
follow it. MKL keeps a count of its own per thread, which torch sets to the process-wide count when a thread
first uses torch after any `torch.set_num_threads` call: a worker made then ran its QR on two MKL threads, and its
result differed in the last bits from a worker made earlier, so two discoveries with one seed in one process
disagreed on near-threshold neurons. So these workers set both counts once each, and independent jobs (the
stability reruns) run on them side by side: one thread each, all the cores together.

Where torch's OpenMP runtime or MKL cannot be found (builds without them), the workers run with torch's own count.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")
_OPENMP_NAMES = ("libgomp.so.1", "libomp.so", "libiomp5.so", "libomp.dylib", "libiomp5.dylib")
_TORCH_LIBRARIES = Path(torch.__file__).parent / "lib"
_local = threading.local()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _openmp_runtime() -> ctypes.CDLL | None:
    """The OpenMP runtime torch's CPU kernels use: shipped in torch/lib, or already loaded into the process."""
    for name in _OPENMP_NAMES:
        if (_TORCH_LIBRARIES / name).exists():
            try:
                return ctypes.CDLL(str(_TORCH_LIBRARIES / name))
            except OSError:
                continue
    try:
        process = ctypes.CDLL(None)
    except OSError:
        return None
    return process if hasattr(process, "omp_set_num_threads") else None


def _mkl_runtime() -> ctypes.CDLL | None:
    """torch's MKL, where this build links it: its symbols live in libtorch_cpu. (`MKL_Set_Num_Threads_Local` is
    the C entry point, taking the count by value; the lower-case name is Fortran's, taking a pointer.)"""
    try:
        runtime = ctypes.CDLL(str(_TORCH_LIBRARIES / "libtorch_cpu.so"))
    except OSError:
        return None
    return runtime if hasattr(runtime, "MKL_Set_Num_Threads_Local") else None


def _become_single_threaded() -> None:
    """Worker initializer: one CPU thread for this thread only, for torch's kernels and for MKL."""
    torch.get_num_threads()  # torch sets up this thread's counts first; done later, it would undo the lines below
    for runtime, set_count in (
        (_openmp_runtime(), "omp_set_num_threads"),
        (_mkl_runtime(), "MKL_Set_Num_Threads_Local"),
    ):
        if runtime is not None:
            getattr(runtime, set_count)(1)
    _local.solo = True


def _executor() -> ThreadPoolExecutor:
    """The workers, made on first use: as many as torch's thread count then (one per core it would use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, torch.get_num_threads()),
                thread_name_prefix="fnsft-solo",
                initializer=_become_single_threaded,
            )
        return _pool


def in_one_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """function(*args, **kwargs) on one CPU thread (a worker; inline when called from a worker)."""
    if getattr(_local, "solo", False):
        return function(*args, **kwargs)
    return _executor().submit(function, *args, **kwargs).result()


def map_in_one_thread_each(function: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    """[function(item) for item in items], each on one CPU thread, the workers side by side."""
    if getattr(_local, "solo", False):
        return [function(item) for item in items]
    return list(_executor().map(function, items))
