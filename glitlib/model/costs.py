"""Exact, analytic parameter and MAC counts, without building a model.

Convention: MACs are the multiply-accumulates of every Linear and Conv (patch
embedding, qkv/proj, pointwise, depthwise, FFN, head) plus the two attention
matmuls ``Q K^T`` and ``A V``, for one image. Biases, norms, activations,
softmax and GLU are not counted. That is exactly half of what
``torch.utils.flop_counter.FlopCounterMode`` reports for a forward pass with
explicit attention matmuls (it counts 2 FLOPs per MAC).

Every kind of local heads is counted as it runs: window heads as full
``T x T`` attention (the mask hides scores, it does not skip them), the
``k x k`` conv of 2D local heads at every patch (taps on the zero padding
included, as a convolution computes them) plus one tap for the class token.

``reference_formula_macs`` reproduces the formula of the released GLiT code,
which counts the first pointwise conv of a local head at half its size (the
GLU doubles its output channels; the formula forgets that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ArchitectureError
from .arch import Arch, BlockArch, all_global
from .space import SearchSpace

if TYPE_CHECKING:
    import torch

__all__ = [
    "Cost", "LayerCost", "CostModel", "count", "layer_costs", "block_layers", "stem_layers",
    "reference_formula_macs", "default_max_macs", "measured_macs",
]


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)


@dataclass(frozen=True)
class LayerCost:
    """One counted layer: where it is, what it is, and its cost."""

    name: str
    params: int
    macs: int


def _linear(name: str, n_in: int, n_out: int, tokens: int) -> LayerCost:
    # A Linear or pointwise conv with bias, applied at every token.
    return LayerCost(name, n_in * n_out + n_out, tokens * n_in * n_out)


def _norm(name: str, dim: int) -> LayerCost:
    return LayerCost(name, 2 * dim, 0)


def _attention(prefix: str, dim: int, inner: int, tokens: int) -> list[LayerCost]:
    # qkv, the two T x T matmuls over all heads (``inner`` = heads * head width), proj.
    return [
        _linear(prefix + "qkv", dim, 3 * inner, tokens),
        LayerCost(prefix + "q@k^T", 0, tokens * tokens * inner),
        LayerCost(prefix + "attn@v", 0, tokens * tokens * inner),
        _linear(prefix + "proj", inner, dim, tokens),
    ]


def _local(space: SearchSpace, b: BlockArch, prefix: str) -> list[LayerCost]:
    """The local heads of ``b`` (``b.g < N``), of the space's kind."""
    t = space.num_tokens
    c_local = space.embed_dim - space.embed_dim * b.g // space.num_heads
    if space.local == "window":  # N - g heads of width d/N: c_local channels inside
        return _attention(prefix + "attn.", c_local, c_local, t)
    assert b.e is not None and b.k is not None  # a validated block with local heads
    hidden = c_local * b.e
    if space.local == "conv2d":  # k x k at every patch, the centre tap at the class token
        taps = space.grid_size**2 * b.k**2 + 1
        depthwise = LayerCost(prefix + "depthwise", hidden * b.k**2 + hidden, hidden * taps)
    else:
        depthwise = LayerCost(prefix + "depthwise", hidden * b.k + hidden, t * hidden * b.k)
    return [
        _linear(prefix + "pointwise1", c_local, 2 * hidden, t),
        depthwise,
        _norm(prefix + "norm", hidden),
        _linear(prefix + "pointwise2", hidden, c_local, t),
    ]


def block_layers(space: SearchSpace, b: BlockArch, prefix: str = "") -> list[LayerCost]:
    """The counted layers of one block."""
    d, n, t = space.embed_dim, space.num_heads, space.num_tokens
    rows = [_norm(prefix + "norm1", d)]
    if b.g > 0:
        assert b.d_k is not None  # a validated block with global heads
        rows += _attention(prefix + "gl.attn.", d * b.g // n, b.g * b.d_k, t)
    if b.g < n:
        rows += _local(space, b, prefix + "gl.conv.")
    rows += [
        _norm(prefix + "norm2", d),
        _linear(prefix + "ffn.fc1", d, d * b.d_z, t),
        _linear(prefix + "ffn.fc2", d * b.d_z, d, t),
    ]
    return rows


def stem_layers(space: SearchSpace) -> list[LayerCost]:
    """Embedding (patch projection, class token, positions) and the classifier."""
    d, p, c = space.embed_dim, space.patch_size, space.in_chans
    m2 = space.grid_size**2
    return [
        LayerCost("embed.patch_embed.proj", c * p * p * d + d, m2 * c * p * p * d),
        LayerCost("embed.cls_token", d, 0),
        LayerCost("embed.pos_embed", space.num_tokens * d, 0),
        _norm("norm", d),
        _linear("head", d, space.num_classes, 1),
    ]


def layer_costs(space: SearchSpace, arch: Arch) -> list[LayerCost]:
    """Every counted layer of the network, named as in :class:`~glitlib.model.glit.GLiT`."""
    arch.validate(space)
    rows = stem_layers(space)[:3]
    for i, b in enumerate(arch.blocks):
        rows += block_layers(space, b, prefix=f"blocks.{i}.")
    return rows + stem_layers(space)[3:]


def _total(rows: list[LayerCost]) -> Cost:
    return Cost(sum(r.params for r in rows), sum(r.macs for r in rows))


class CostModel:
    """Fast counting for one space: per-block costs are computed once, then looked up.

    The evolutionary search calls this for every candidate, so it must be cheap.
    """

    def __init__(self, space: SearchSpace):
        self.space = space
        self.stem = _total(stem_layers(space))
        # Keyed by the plain field tuple: hashing and comparing it runs in C,
        # several times faster than the dataclass's generated __hash__/__eq__.
        self._blocks: dict[tuple, Cost] = {}

    def block(self, b: BlockArch) -> Cost:
        key = (b.g, b.d_k, b.d_z, b.e, b.k)
        cost = self._blocks.get(key)
        if cost is None:
            cost = self._blocks[key] = _total(block_layers(self.space, b))
        return cost

    def __call__(self, arch: Arch) -> Cost:
        params, macs = self.stem.params, self.stem.macs
        table = self._blocks
        for b in arch.blocks:
            c = table.get((b.g, b.d_k, b.d_z, b.e, b.k)) or self.block(b)
            params += c.params
            macs += c.macs
        return Cost(params, macs)

    def macs(self, arch: Arch) -> int:
        return self(arch).macs


def count(space: SearchSpace, arch: Arch) -> Cost:
    """Params and MACs of ``arch`` in ``space`` (validated)."""
    return _total(layer_costs(space, arch))


def default_max_macs(space: SearchSpace) -> int:
    """A search's default MACs limit: the cost of the space's all-global network.

    GLiT compares its networks with DeiT at DeiT's cost; :func:`~glitlib.model.arch.all_global`
    is that network in any space (DeiT itself on the paper's spaces).
    """
    return CostModel(space).macs(all_global(space))


def reference_formula_macs(space: SearchSpace, arch: Arch) -> int:
    """The released code's formula (``count_mixit_flops``), for any space.

    It equals :func:`count` minus half of every first pointwise conv of the
    local heads. Defined for GLiT's own (conv1d) local heads only.
    """
    if space.local != "conv1d":
        raise ArchitectureError(
            f"space {space.name!r} has local={space.local!r}; the released formula counts "
            "GLiT's conv1d local heads only, use count() for other kinds"
        )
    arch.validate(space)
    d, n, t = space.embed_dim, space.num_heads, space.num_tokens
    total = space.in_chans * d * space.patch_size**2 * space.grid_size**2
    total += d * space.num_classes
    for b in arch.blocks:
        dim_v, dim_c = d * b.g // n, d * (n - b.g) // n
        if b.g > 0:
            assert b.d_k is not None
            inner_v = b.g * b.d_k  # dim_v * e_v
            total += 3 * dim_v * inner_v * t + 2 * t * t * inner_v + inner_v * dim_v * t
        if b.g < n:
            assert b.e is not None and b.k is not None
            hidden = dim_c * b.e
            total += dim_c * hidden * t  # half of pointwise1's 2*hidden outputs
            total += hidden * b.k * t + hidden * dim_c * t
        total += 2 * b.d_z * d * d * t
    return total


def measured_macs(model: torch.nn.Module, *inputs: torch.Tensor) -> int:
    """MACs of one forward pass as ``FlopCounterMode`` measures them (FLOPs / 2).

    Fused ``scaled_dot_product_attention`` is counted as zero on CPU, so the
    global heads are switched to explicit matmuls for the measurement; the
    local heads use their depthwise convolution, not the banded matmul that
    computes the same for short sequences (it multiplies zeros too).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .glit import use_fused_attention as set_fused_attn
    from .layers import LocalHeads

    fused = {m: m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")}
    set_fused_attn(model, False)
    banded = {m: m.banded_max_tokens for m in model.modules() if isinstance(m, LocalHeads)}
    for heads in banded:
        heads.banded_max_tokens = 0
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        for module, flag in fused.items():
            module.fused_attn = flag
        for heads, tokens in banded.items():
            heads.banded_max_tokens = tokens
    return counter.get_total_flops() // 2
