"""Training over many ranks as one process with the global batch.

Every rank draws the same supernet path for a step (a function of ``(seed, step)``)
and trains on its own slice of the global batch; the path's gradients are averaged
in one bucketed all-reduce (:func:`average_path_gradients`); the standalone
retraining uses ``DistributedDataParallel`` (:func:`data_parallel`).

BatchNorm in the local heads sees only its rank's slice of the batch; under
:func:`synced_batchnorm` it uses the statistics of the whole global batch
instead (:class:`SyncBatchNorm1d`, differentiable across ranks), so N ranks train
as one process with the same global batch. It works on CPU (gloo) as on GPU, where
torch's own ``SyncBatchNorm`` does not run on CPU tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ..runtime.ranks import rank_and_world

__all__ = ["average_path_gradients", "SyncBatchNorm1d", "synced_batchnorm", "data_parallel"]


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
        # Every rank holds an equal slice of the global batch (check_shards), so the count
        # is known on the host: no collective, no device-to-host sync for it.
        n = float(x.numel() // x.shape[1] * world)
        mean = _SumOverRanks.apply(x.sum(dims)) / n  # two passes: no cancellation in var
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply((centred * centred).sum(dims)) / n
        self._update_running(mean.detach(), var.detach(), n)
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, n: float) -> None:
        if (not self.track_running_stats or self.running_mean is None
                or self.running_var is None or self.num_batches_tracked is None):
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
