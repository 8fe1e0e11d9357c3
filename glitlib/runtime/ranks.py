"""The ranks of a run: which process am I, how many are we, and the collectives between us.

A search or a retraining started by ``torchrun --nproc_per_node=N glit ...`` runs
the same program on every rank (NCCL on GPUs, gloo on CPUs). Rank 0 alone writes
files and prints; every other rank computes the same results. This module is the
one home of "which rank am I": it answers without importing ``torch.distributed``
when nothing started it, so writing a file costs no import.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import ConfigError

__all__ = ["rank_and_world", "is_main", "barrier", "shard_map", "differing_ranks",
           "launched_by_torchrun", "init_from_env", "shutdown", "stalled"]

T = TypeVar("T")
R = TypeVar("R")


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size: ``(0, 1)`` without a process group."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files and prints."""
    return rank_and_world()[0] == 0


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written what the others read)."""
    if rank_and_world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


def shard_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, rank ``r`` computing ``items[r::world]``.

    The results are gathered in order, so every rank returns the same list.
    """
    rank, world = rank_and_world()
    if world == 1:
        return [fn(x) for x in items]
    import torch.distributed as dist

    mine = [fn(x) for x in items[rank::world]]
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, mine)
    out: list[Any] = [None] * len(items)
    for r, part in enumerate(parts):
        out[r::world] = part
    return out


def differing_ranks(value: Any) -> list[int]:
    """The ranks whose ``value`` (e.g. a digest of their data files) differs from rank
    0's: ``[]`` when every rank agrees or there is one rank."""
    rank, world = rank_and_world()
    if world == 1:
        return []
    import torch.distributed as dist

    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return [r for r, v in enumerate(values) if v != values[0]]


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or any launcher setting ``WORLD_SIZE`` > 1) started us."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str, timeout_s: float = 1800.0) -> str:
    """Start the process group torchrun describes; return this rank's device.

    ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per rank, named to NCCL as the
    group's ``device_id``); a given index is refused, as every rank would share it.
    A collective that waits ``timeout_s`` for a rank that stalled or died fails on the
    ranks still alive (:func:`stalled`). Without torchrun nothing is started and
    ``device`` is returned as is.
    """
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    kind = torch.device(device).type
    extra: dict[str, Any] = {}
    if kind == "cuda":
        if torch.device(device).index is not None:
            raise ConfigError(f"--device {device} under torchrun would put every rank on one "
                              "GPU; pass --device cuda (rank i uses cuda:LOCAL_RANK)")
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
        extra["device_id"] = torch.device(device)
    dist.init_process_group("nccl" if kind == "cuda" else "gloo",
                            timeout=timedelta(seconds=timeout_s), **extra)
    return device


def stalled(err: BaseException) -> str | None:
    """One line for a collective that failed because another rank stalled or died, or
    ``None`` when ``err`` is something else."""
    dist = sys.modules.get("torch.distributed")
    kinds = tuple(getattr(dist, name) for name in ("DistError", "DistBackendError")
                  if dist is not None and hasattr(dist, name))
    text = str(err).lower()
    if not (kinds and isinstance(err, kinds)) and not (
            isinstance(err, RuntimeError) and ("timed out" in text or "connection" in text)):
        return None
    rank, world = rank_and_world()
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    first = re.sub(r"^\[[^\]]*\]\s*", "", first)  # the backend's source file and line
    if len(first) > 100:
        first = first[:100].rsplit(" ", 1)[0] + " ..."
    return (f"rank {rank} of {world}: another rank stopped answering ({first}); a rank "
            "stalled or died: restart the same command with --resume (under torchrun "
            "--max-restarts N ... --resume this happens by itself)")


def shutdown() -> None:
    """Leave the process group, if one was started."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
