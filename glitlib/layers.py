"""The parts of a GLiT block, each a small module with a short ``forward``.

Shapes: tokens are ``(B, T, C)`` with ``T = m^2 + 1`` (class token first).

Where timm has the exact piece, glitlib uses it: :class:`PatchEmbed` is
timm's, :class:`GlobalHeads` is timm's ``Attention`` and :class:`FFN` timm's
``Mlp``, with the same state-dict keys (``proj``; ``qkv``/``proj``;
``fc1``/``fc2``) and the same outputs as the released GLiT code. The local
heads, the channel split and the block are GLiT's own and written here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Attention, DropPath, Mlp, PatchEmbed
from torch import Tensor, nn

__all__ = [
    "PatchEmbed", "GlobalHeads", "LocalHeads", "banded_depthwise", "GlobalLocal", "global_local",
    "FFN", "Block",
]


class GlobalHeads(Attention):
    """``num_heads`` self-attention heads of width ``d_k`` over ``dim`` channels.

    softmax(Q K^T / sqrt(d_k)) V per head, then a projection back to ``dim``:
    timm's ``Attention`` with ``attn_head_dim=d_k`` and a biased ``qkv``, as in
    the released code (``d_k`` need not be ``dim / num_heads``). Each instance's
    ``fused_attn`` picks ``F.scaled_dot_product_attention`` (fast); ``False``
    runs the explicit matmuls, which compute the same and let tools such as
    ``FlopCounterMode`` see them (:func:`glitlib.use_fused_attention` flips it
    for a whole model).
    """

    def __init__(self, dim: int, num_heads: int, d_k: int):
        super().__init__(dim, num_heads, attn_head_dim=d_k, qkv_bias=True)
        self.d_k = d_k


class LocalHeads(nn.Module):
    """Local heads: pointwise -> GLU -> 1D depthwise -> BatchNorm -> Swish -> pointwise.

    The tokens are treated as a 1D sequence (the class token makes ``m^2 + 1``
    tokens, which is no square), so the depthwise kernel of size ``k`` mixes
    each channel over ``k`` neighbouring tokens in raster order. Neither timm
    nor torch has this module (the GLU conv module of the released code), so it
    is written here with the released layer order and weight shapes.

    For short sequences (at most ``banded_max_tokens`` tokens) the depthwise
    conv runs as one banded ``(T x T)`` matmul per channel
    (:func:`banded_depthwise`): on CPU about twice as fast as the depthwise
    convolution kernel there, with the same result and the same weights. Set
    ``banded_max_tokens = 0`` (per instance) to always use the convolution.
    """

    def __init__(self, dim: int, expansion: int, kernel_size: int, banded_max_tokens: int = 64):
        super().__init__()
        hidden = dim * expansion
        self.banded_max_tokens = banded_max_tokens
        self.pointwise1 = nn.Conv1d(dim, 2 * hidden, 1)
        self.depthwise = nn.Conv1d(
            hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden
        )
        self.norm = nn.BatchNorm1d(hidden)
        self.pointwise2 = nn.Conv1d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pointwise1(x.transpose(1, 2))  # (B, 2*hidden, T)
        x = F.glu(x, dim=1)  # first half * sigmoid(second half)
        x = F.silu(self.norm(self._depthwise(x)))  # Swish = x * sigmoid(x)
        return self.pointwise2(x).transpose(1, 2)

    def _depthwise(self, x: Tensor) -> Tensor:
        if x.shape[-1] > self.banded_max_tokens:
            return self.depthwise(x)
        return banded_depthwise(x, self.depthwise.weight, self.depthwise.bias)


def banded_depthwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Depthwise 1D conv (odd kernel, same padding) as a banded matmul per channel.

    Kept hand-written because it was measured: for the few tokens of small
    images the CPU depthwise convolution kernel is about half as fast as this
    matmul, which computes the same sums (tests check values and gradients).

    ``band[c, o, i] = weight[c, 0, i - o + k // 2]`` inside the kernel, else 0, so
    ``y[:, c, o] = sum_i band[c, o, i] * x[:, c, i]`` is the convolution.
    """
    T, k = x.shape[-1], weight.shape[-1]
    pos = torch.arange(T, device=x.device)
    offset = pos[None, :] - pos[:, None] + k // 2  # [o, i] -> kernel tap
    inside = (offset >= 0) & (offset < k)
    band = weight[:, 0][:, offset.clamp(0, k - 1)] * inside  # (C, T, T)
    # One explicit copy to (C, B, T), then a plain batched matmul over channels:
    # bmm on arbitrarily strided operands would copy channel by channel.
    y = torch.bmm(x.permute(1, 0, 2).contiguous(), band.transpose(1, 2))  # (C, B, T)
    y = y.permute(1, 0, 2)
    return y if bias is None else y + bias[:, None]


class GlobalLocal(nn.Module):
    """The global-local module: ``g`` global heads and ``N - g`` local heads.

    The input's first ``d*g/N`` channels feed the global heads, the last
    ``d*(N-g)/N`` the local heads; the two outputs are concatenated back.
    ``g == N`` is a plain ViT/DeiT attention block. GLiT's own: no library
    has this channel split.
    """

    def __init__(
        self, dim: int, num_heads: int, g: int, d_k: int | None,
        e: int | None, k: int | None,
    ):
        super().__init__()
        self.c_global = dim * g // num_heads
        self.c_local = dim - self.c_global
        self.attn = GlobalHeads(self.c_global, g, d_k) if g > 0 else None
        self.conv = LocalHeads(self.c_local, e, k) if g < num_heads else None

    def forward(self, x: Tensor) -> Tensor:
        # Written out (not via global_local) so that torch.jit.script sees each
        # optional part as a module attribute it can test for None.
        if self.conv is None:
            return self.attn(x)
        if self.attn is None:
            return self.conv(x)
        x_g, x_l = x.split([self.c_global, self.c_local], dim=-1)
        return torch.cat([self.attn(x_g), self.conv(x_l)], dim=-1)


def global_local(
    x: Tensor, attn: nn.Module | None, conv: nn.Module | None, c_global: int
) -> Tensor:
    """Run the global heads on the first ``c_global`` channels, the local on the rest."""
    if conv is None:
        return attn(x)
    if attn is None:
        return conv(x)
    x_g, x_l = x.split([c_global, x.shape[-1] - c_global], dim=-1)
    return torch.cat([attn(x_g), conv(x_l)], dim=-1)


_ACTS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "swish": nn.SiLU}


class FFN(Mlp):
    """Feed-forward module: FC(d -> d*d_z) -> activation -> dropout -> FC(-> d).

    timm's ``Mlp`` (keys ``fc1``, ``fc2``), as in the released code.
    ``act="gelu"`` as in the released code, ``act="swish"`` as in the paper's text.
    """

    def __init__(self, dim: int, ratio: int, act: str = "gelu", drop: float = 0.0):
        if act not in _ACTS:
            raise ValueError(f"unknown FFN activation {act!r}; choose one of {list(_ACTS)}")
        super().__init__(dim, dim * ratio, act_layer=_ACTS[act], drop=drop)


class Block(nn.Module):
    """Pre-norm block: ``x + GL(LN(x))`` then ``x + FFN(LN(x))``.

    Not timm's ``Block``: that one builds its own attention and MLP under the
    keys ``attn``/``mlp``, while a GLiT block holds a global-local module
    (``gl``) whose heads the supernet, the cost tables and the released
    checkpoint mapping address by these names.
    """

    def __init__(self, dim: int, gl: nn.Module, ffn: nn.Module, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.gl = gl
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = ffn
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.gl(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))
