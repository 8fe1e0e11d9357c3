"""Which torch device a run uses and at which precision, checked before any work."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["PRECISIONS", "check_device", "check_precision", "autocast"]

PRECISIONS = ("fp32", "bf16")


def check_device(name: str) -> str:
    """Return ``name`` if torch can run on it here; else one line saying what to use."""
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"device {name!r} is not a torch device; use cpu, cuda, cuda:N or "
                          "mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: no CUDA GPU is available here; use "
                              "--device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has "
                              f"{torch.cuda.device_count()} GPU(s); use cuda:0 to "
                              f"cuda:{torch.cuda.device_count() - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {name!r} is not supported; use cpu, cuda, cuda:N or mps")
    return name


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of ``PRECISIONS``, else one line."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {list(PRECISIONS)}")
    return precision


def autocast(device: Any, precision: str = "fp32") -> Any:
    """bf16 autocast on ``device`` when ``precision`` is ``bf16``; a no-op context for fp32."""
    import torch

    check_precision(precision)
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")
