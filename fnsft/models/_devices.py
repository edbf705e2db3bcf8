"""Device and dtype policy: one place decides where a model runs and in which precision."""

from __future__ import annotations

from pathlib import Path

import psutil
import torch
from torch import nn

from ..errors import DecompositionError, SettingError

_DTYPE_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def get_optimal_device() -> torch.device:
    """CUDA if present (this process's LOCAL_RANK GPU), else Apple MPS, else CPU.

    >>> device = fnsft.get_optimal_device()  # device(type='cuda', index=0) on a machine with a GPU
    >>> model = model.to(device)
    """
    if torch.cuda.is_available():  # under torchrun / accelerate launch each process takes its own GPU
        from ..discovery._parallel import process_state

        return torch.device("cuda", process_state().local_process_index)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DEVICE_FORMS = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn "auto"/None/a name into a torch.device, checking that it exists here (SettingError otherwise)."""
    if device is None or device == "auto":
        return get_optimal_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SettingError(f"device={device!r} is not a device name; expected {DEVICE_FORMS}.") from None
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise SettingError(f"device={device!r} is not supported; expected {DEVICE_FORMS}.")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SettingError(
            f"device={device!r} was asked for, but CUDA is not available here; use device='auto' or 'cpu'."
        )
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise SettingError(
            f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"cuda:0..cuda:{torch.cuda.device_count() - 1}."
        )
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SettingError(
            f"device={device!r} was asked for, but Apple MPS is not available here; use 'auto' or 'cpu'."
        )
    return resolved


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA cards that support it (fp16 otherwise), fp16 on MPS, fp32 on CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Turn "auto"/None/a name into a torch.dtype for `device`."""
    if dtype is None or dtype == "auto":
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPE_NAMES[str(dtype).lower()]
    except KeyError:
        raise SettingError(f"Unknown dtype {dtype!r}; use 'auto' or one of {sorted(_DTYPE_NAMES)}.") from None


def decomposition_device(requested, model: nn.Module, matrix: torch.Tensor) -> torch.device | None:
    """The device for PCA/ICA: as requested, or for "auto" the model's CUDA device when the matrix fits."""
    if requested != "auto":
        return None if requested is None else torch.device(requested)
    device = next(model.parameters()).device
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return device if matrix.numel() * matrix.element_size() * 2 < free else None


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX): read from Linux's cpuinfo, as
    torch offers no public query; elsewhere False, so the matrix stays float32."""
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def matrix_dtype(name: str = "float32") -> torch.dtype:
    """The dtype of the in-memory [tokens x neurons] discovery matrix for the setting `name`.

    "float32" is the default because it gives the same networks on every CPU. "bfloat16" halves the memory and,
    where the CPU multiplies it in hardware, the time of the randomized range's memory-bound products; "auto"
    takes it only there (without hardware support bfloat16 is emulated and slower).
    """
    if name == "auto":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


# the in-memory path's workspace: its peak was 1.7 GB (14%) above the model and the 12.1 GB bfloat16 matrix
# of 131,072 tokens (benchmarks/results/streaming_scale.json)
MATRIX_HEADROOM = 1.2


def check_matrix_fits(rows: int, columns: int, dtype: torch.dtype) -> None:
    """Refuse an in-memory activation matrix larger than the memory available now. On Linux an oversized
    torch.empty succeeds and the process is killed later, when the capture touches the pages, without a word
    on why."""
    needed = matrix_bytes(rows, columns, dtype)
    available = psutil.virtual_memory().available
    if needed > available:
        raise DecompositionError(
            f"The in-memory activation matrix ({rows:,} tokens x {columns:,} neurons, "
            f"{str(dtype).removeprefix('torch.')}) needs about {size_text(needed)} and "
            f"{size_text(available)} is available: stream it (ICAMask(streaming=True), --streaming true), "
            "whose memory does not grow with the tokens, or capture fewer tokens (max_tokens, --max-tokens)."
        )


def matrix_bytes(rows: int, columns: int, dtype: torch.dtype) -> float:
    """The memory the in-memory path needs for a [rows x columns] matrix, its workspace included."""
    return rows * columns * dtype.itemsize * MATRIX_HEADROOM


def size_text(size: float) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.2f} MB"
