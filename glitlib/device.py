"""Which torch device a run uses, checked before any work."""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["check_device"]


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
