"""The supernet: shared weights for every path of a :class:`~glitlib.nas.paths.PathSpace`.

Weight sharing, per dimension: **separate weights per choice**, as in SPOS.
Every block keeps one :class:`~glitlib.model.layers.GlobalHeads` per ``(g, d_k)``,
one local-heads module (of the space's kind) per ``(N - g, e, k)`` and one
:class:`~glitlib.model.layers.FFN` per ``d_z``; the two LayerNorms of a block, the
embedding, the final norm and the head are shared by all paths. Why:

* it is the scheme SPOS and GLiT use, so their results carry over;
* a path runs the very same modules as the standalone model, so
  :meth:`Supernet.extract` is a copy and a training step costs what the
  standalone model's costs;
* modules off the path get no gradient at all (``grad is None``), so an
  optimizer skips them: no weight decay or momentum drift on choices that
  were not sampled.

The price is memory that grows with the number of choices; the hierarchical
search only builds the choices of its stage (4 per block in stage 1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ArchitectureError
from ..model.arch import Arch, BlockArch
from ..model.glit import Embedding, GLiT, init_weights
from ..model.layers import FFN, GlobalHeads, global_local, local_heads
from .paths import PathSpace

__all__ = ["Supernet", "SuperBlock"]


def _attn_key(b: BlockArch) -> str:
    return f"g{b.g}_dk{b.d_k}"


def _conv_key(b: BlockArch, num_heads: int) -> str:
    return f"l{num_heads - b.g}_e{b.e}_k{b.k}"


class SuperBlock(nn.Module):
    """One block holding every candidate module its choices need.

    ``local`` is the space's kind of local heads (``SearchSpace.local``).
    """

    def __init__(
        self, dim: int, num_heads: int, choices: tuple[BlockArch, ...],
        ffn_act: str = "gelu", drop: float = 0.0, local: str = "conv1d",
    ):
        super().__init__()
        self.dim, self.num_heads = dim, num_heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.conv, self.ffn = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for b in choices:
            c_global = dim * b.g // num_heads
            if b.g > 0 and _attn_key(b) not in self.attn:
                assert b.d_k is not None  # canonical choices with global heads have it
                self.attn[_attn_key(b)] = GlobalHeads(c_global, b.g, b.d_k)
            if b.g < num_heads and _conv_key(b, num_heads) not in self.conv:
                assert b.k is not None  # canonical choices with local heads have it
                self.conv[_conv_key(b, num_heads)] = local_heads(
                    local, dim - c_global, num_heads - b.g, b.e, b.k)
            if str(b.d_z) not in self.ffn:
                self.ffn[str(b.d_z)] = FFN(dim, b.d_z, ffn_act, drop)

    def path_modules(self, b: BlockArch) -> tuple[nn.Module | None, nn.Module | None,
                                                   nn.Module]:
        """The (global heads, local heads, FFN) modules the choice ``b`` runs."""
        n = self.num_heads
        attn = self.attn[_attn_key(b)] if b.g > 0 else None
        conv = self.conv[_conv_key(b, n)] if b.g < n else None
        return attn, conv, self.ffn[str(b.d_z)]

    def forward(self, x: Tensor, b: BlockArch) -> Tensor:
        attn, conv, ffn = self.path_modules(b)
        x = x + global_local(self.norm1(x), attn, conv, self.dim * b.g // self.num_heads)
        return x + ffn(self.norm2(x))


class Supernet(nn.Module):
    """Runs any path of ``paths`` with shared weights: ``net(x, arch)``."""

    def __init__(self, paths: PathSpace, ffn_act: str = "gelu", drop_rate: float = 0.0):
        super().__init__()
        space = self.space = paths.space
        self.paths, self.ffn_act = paths, ffn_act
        self.embed = Embedding(space, drop_rate)
        self.blocks = nn.ModuleList([
            SuperBlock(space.embed_dim, space.num_heads, c, ffn_act, drop_rate, space.local)
            for c in paths.choices
        ])
        self.norm = nn.LayerNorm(space.embed_dim, eps=1e-6)
        self.head = nn.Linear(space.embed_dim, space.num_classes)
        init_weights(self)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"embed.pos_embed", "embed.cls_token"}

    def _path(self, arch: Arch) -> Arch:
        arch = arch.validate(self.space).canonical(self.space)
        if not self.paths.contains(arch):
            bad = next(
                i for i, (b, c) in enumerate(zip(arch.blocks, self.paths.choices))
                if b not in c
            )
            raise ArchitectureError(
                f"block {bad}: {arch.blocks[bad]} is not a choice of this supernet; "
                "sample architectures from its path space"
            )
        return arch

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        arch = self._path(arch)
        x = self.embed(x)
        for block, b in zip(self.blocks, arch.blocks):
            x = block(x, b)
        return self.head(self.norm(x)[:, 0])

    @torch.no_grad()
    def extract(self, arch: Arch) -> GLiT:
        """A standalone :class:`~glitlib.model.glit.GLiT` with this path's weights, same outputs."""
        arch = self._path(arch)
        model = GLiT(self.space, arch, ffn_act=self.ffn_act)
        model.embed.load_state_dict(self.embed.state_dict())
        model.norm.load_state_dict(self.norm.state_dict())
        model.head.load_state_dict(self.head.state_dict())
        sblocks: list[SuperBlock] = list(self.blocks)  # type: ignore[arg-type]
        blocks: list[Any] = list(model.blocks)
        for sblock, block, b in zip(sblocks, blocks, arch.blocks):
            attn, conv, ffn = sblock.path_modules(b)
            block.norm1.load_state_dict(sblock.norm1.state_dict())
            block.norm2.load_state_dict(sblock.norm2.state_dict())
            block.ffn.load_state_dict(ffn.state_dict())
            if attn is not None:
                block.gl.attn.load_state_dict(attn.state_dict())
            if conv is not None:
                block.gl.conv.load_state_dict(conv.state_dict())
        return model.train(self.training)
