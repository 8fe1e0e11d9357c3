"""The evaluator: how one candidate path is scored.

A supernet's BatchNorm statistics are a mix over every path trained, wrong for
any single one. SPOS therefore recalibrates before scoring each candidate:
reset the running statistics, run ``num_batches`` training batches through the
path with its BatchNorms in train mode (cumulative average, ``momentum=None``;
everything else stays in eval mode, as it has no statistics to learn), then
measure accuracy on held-out data in eval mode. The batches are fixed by the seed, so
a candidate's score never depends on what was scored before it -- nor on the number
of ranks of a distributed run: each rank scores whole candidates, recalibrating on
the whole batch (not its shard) and measuring on the whole held-out split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ..data.source import BatchSource
from ..model.arch import Arch
from ..runtime.device import autocast
from ..train.standalone import accuracy, device_of
from .supernet import Supernet

__all__ = ["recalibrate_bn", "Evaluator"]


class _PathModule(nn.Module):
    """The modules of one path as children, with ``forward`` running that path.

    ``torch.optim.swa_utils.update_bn`` resets and re-estimates the BatchNorms of
    the module it is given and flips *its* train mode: given this wrapper, it touches
    only the path's own modules, never the rest of a supernet.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], modules: nn.Module):
        super().__init__()
        self.path = modules
        self._forward = forward

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x)


@torch.no_grad()
def recalibrate_bn(forward: Callable[[Tensor], Tensor], module: nn.Module,
                   batches: Iterable[Tensor], precision: str = "fp32") -> int:
    """Reset every BatchNorm of ``module`` and re-estimate it from ``batches`` (training
    images, on the device, ready for the model).

    ``forward`` runs the path being scored; ``torch.optim.swa_utils.update_bn`` does
    the work (cumulative averages over the batches), under the run's precision. Returns
    the number of BN layers reset (0 means nothing to recalibrate and no batch was run).
    """
    from torch.optim.swa_utils import update_bn

    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = list(batches) if norms else []
    if not batches:
        return 0
    wrapper = _PathModule(forward, module)
    was_training = [m.training for m in module.modules()]
    wrapper.eval()
    with autocast(batches[0].device, precision):
        update_bn(batches, wrapper)
    for m, training in zip(module.modules(), was_training):
        m.training = training
    return len(norms)


class Evaluator:
    """Scores paths of a supernet: BN recalibration on ``train``, accuracy on ``val``.

    Only the search's held-out split is ever given to it: the test split stays
    out of the search.
    """

    def __init__(self, net: Supernet, train: BatchSource, val: BatchSource,
                 bn_batches: int = 2, bn_batch_size: int = 256, seed: int = 0,
                 batch_size: int = 1024, precision: str = "fp32"):
        self.net, self.train, self.val = net, train, val
        self.bn_batches, self.bn_batch_size = bn_batches, bn_batch_size
        self.seed, self.batch_size, self.precision = seed, batch_size, precision
        self._bn: list[Tensor] | None = None

    def bn_images(self) -> list[Tensor]:
        """The recalibration batches: the same for every candidate, so read (and, for
        streamed data, decoded) once and kept on the device, as ``uint8`` where the data
        come so."""
        if self._bn is None:
            device = device_of(self.net)
            self._bn = [x.to(device, non_blocking=True) for x, _ in self.train.batches(
                self.bn_batch_size, self.seed, 0, self.bn_batches, shard=False)]
        return self._bn

    def path_norms(self, arch: Arch) -> nn.Module:
        """A container of the path's own modules, so only its BatchNorms are reset."""
        mods = nn.ModuleList()
        blocks: list[Any] = list(self.net.blocks)
        for block, b in zip(blocks, arch.blocks):
            mods.extend(m for m in block.path_modules(b) if m is not None)
        return mods

    def __call__(self, arch: Arch) -> float:
        arch = self.net._path(arch)
        forward = lambda x: self.net(x, arch)  # noqa: E731
        if self.net.training:
            self.net.eval()
        batches = (self.train.prepare(x) for x in self.bn_images())
        recalibrate_bn(forward, self.path_norms(arch), batches, self.precision)
        return accuracy(forward, self.val, self.batch_size, self.precision,
                        device_of(self.net))
