"""Runs over many processes: torchrun's environment, one device per rank, rank 0 writes.

A search or a retraining started by ``torchrun --nproc_per_node=N glit ...`` runs
the same program on every rank (NCCL on GPUs, gloo on CPUs). Every rank draws the
same supernet path for a step (it is a function of ``(seed, step)``) and trains on
its own slice of the global batch; the path's gradients are averaged in one
bucketed all-reduce (:func:`average_path_gradients`); the standalone retraining uses
``DistributedDataParallel``. Evolution scores its candidates sharded over ranks
and gathers the scores, so every rank holds the same candidate list and the same
next generation. Rank 0 alone writes files (:func:`is_main`, checked by
:mod:`glitlib.io`) and prints.

BatchNorm in the local heads sees only its rank's slice of the batch; under
:func:`synced_batchnorm` it uses the statistics of the whole global batch
instead (:class:`SyncBatchNorm1d`, differentiable across ranks), so N ranks train
as one process with the same global batch. It works on CPU (gloo) as on GPU, where torch's own
``SyncBatchNorm`` does not run on CPU tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from .data import rank_and_world
from .errors import ConfigError

__all__ = ["launched_by_torchrun", "init_from_env", "shutdown", "is_main", "barrier",
           "shard_map", "average_path_gradients", "SyncBatchNorm1d", "synced_batchnorm",
           "data_parallel"]

T = TypeVar("T")
R = TypeVar("R")


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or any launcher setting ``WORLD_SIZE`` > 1) started us."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str) -> str:
    """Start the process group torchrun describes; return this rank's device.

    ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per rank); a given index is
    refused, as every rank would share it. Without torchrun nothing is started
    and ``device`` is returned as is.
    """
    import torch.distributed as dist

    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    kind = torch.device(device).type
    if kind == "cuda":
        if torch.device(device).index is not None:
            raise ConfigError(f"--device {device} under torchrun would put every rank on one "
                              "GPU; pass --device cuda (rank i uses cuda:LOCAL_RANK)")
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if kind == "cuda" else "gloo")
    return device


def shutdown() -> None:
    """Leave the process group, if one was started."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files and prints."""
    return rank_and_world()[0] == 0


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written what the others read)."""
    import torch.distributed as dist

    if rank_and_world()[1] > 1:
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


def average_path_gradients(model: nn.Module) -> None:
    """Average the gradients of the sampled path over ranks, in one all-reduce.

    Every rank trains the same path, so the same parameters have gradients, in the
    same order; off-path ones stay ``None`` (no stale gradient, nothing to wait
    for). They travel as one flat buffer (``bench/bench_reduce.py`` compares this
    with an all-reduce per parameter and with DDP's unused-parameter search).
    """
    _, world = rank_and_world()
    if world == 1:
        return
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world
    for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(avg)


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: every rank's loss
    depends on every rank's input through the shared statistics."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        import torch.distributed as dist

        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch.

    The sums behind the mean and the variance are all-reduced by an autograd
    function that all-reduces their gradients too, so the gradients equal those
    of one process seeing the whole batch. Same parameters and buffers as
    ``BatchNorm1d``: a model switches to it and back by class
    (:func:`synced_batchnorm`) without touching its state dict or optimizer.
    """

    def forward(self, x: Tensor) -> Tensor:
        _, world = rank_and_world()
        if not self.training or world == 1:
            return super().forward(x)
        dims = [0, *range(2, x.ndim)]
        shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
        n = _SumOverRanks.apply(torch.tensor(float(x.numel() // x.shape[1]), device=x.device))
        mean = _SumOverRanks.apply(x.sum(dims)) / n  # two passes: no cancellation in var
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply((centred * centred).sum(dims)) / n
        self._update_running(mean.detach(), var.detach(), n.item())
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, n: float) -> None:
        if not self.track_running_stats or self.running_mean is None:
            return
        self.num_batches_tracked += 1
        m = (1.0 / float(self.num_batches_tracked) if self.momentum is None
             else self.momentum)
        self.running_mean.lerp_(mean, m)
        self.running_var.lerp_(var * n / max(n - 1, 1), m)  # unbiased, as BatchNorm keeps


@contextmanager
def synced_batchnorm(model: nn.Module, on: bool = True) -> Iterator[nn.Module]:
    """Within the block, the model's ``BatchNorm1d`` layers normalise over all ranks.

    Only for training: scoring runs each rank on its own candidates, where a
    collective per BatchNorm would pair unrelated layers.
    """
    norms = [m for m in model.modules() if type(m) is nn.BatchNorm1d] if on else []
    for m in norms:
        m.__class__ = SyncBatchNorm1d
    try:
        yield model
    finally:
        for m in norms:
            m.__class__ = nn.BatchNorm1d


def data_parallel(model: nn.Module) -> nn.Module:
    """``model`` inside ``DistributedDataParallel``, its buffers left to each rank.

    Buffers are BatchNorm's running statistics, kept equal on every rank by
    :class:`SyncBatchNorm1d`: nothing to broadcast before each forward.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    dev = next(model.parameters()).device
    kw: dict[str, Any] = {"device_ids": [dev] if dev.type == "cuda" else None}
    params = inspect.signature(DistributedDataParallel).parameters
    if "forward_sync_buffers" in params:  # torch >= 2.14 renamed broadcast_buffers
        kw["forward_sync_buffers"] = False
    else:
        kw["broadcast_buffers"] = False
    return DistributedDataParallel(model, **kw)
