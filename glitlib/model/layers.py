"""The parts of a GLiT block, each a small module with a short ``forward``.

Shapes: tokens are ``(B, T, C)`` with ``T = m^2 + 1`` (class token first).

Where timm has the exact piece, glitlib uses it: :class:`PatchEmbed` is
timm's, :class:`GlobalHeads` is timm's ``Attention`` and :class:`FFN` timm's
``Mlp``, with the same state-dict keys (``proj``; ``qkv``/``proj``;
``fc1``/``fc2``) and the same outputs as the released GLiT code. The local
heads, the channel split and the block are GLiT's own and written here.

Besides GLiT's local heads (a 1D conv over the token sequence), two other
kinds of locality for ablations (``glitlib.model.space.LOCAL_KINDS``):
:class:`LocalHeads2d`, a ``k x k`` conv over the patch grid, and
:class:`WindowHeads`, self-attention within a window of ``k`` tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Attention, DropPath, Mlp, PatchEmbed
from torch import Tensor, nn

__all__ = [
    "PatchEmbed", "GlobalHeads", "LocalHeads", "LocalHeads2d", "WindowHeads", "window_mask",
    "local_heads", "banded_depthwise", "GlobalLocal", "global_local", "FFN", "Block",
]


class GlobalHeads(Attention):
    """``num_heads`` self-attention heads of width ``d_k`` over ``dim`` channels.

    softmax(Q K^T / sqrt(d_k)) V per head, then a projection back to ``dim``:
    timm's ``Attention`` with ``attn_head_dim=d_k`` and a biased ``qkv``, as in
    the released code (``d_k`` need not be ``dim / num_heads``). Each instance's
    ``fused_attn`` picks ``F.scaled_dot_product_attention`` (fast); ``False``
    runs the explicit matmuls, which compute the same and let tools such as
    ``FlopCounterMode`` see them (:func:`glitlib.model.glit.use_fused_attention` flips it
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

    The weights keep the released ``Conv1d`` shapes, but the forward never
    leaves the ``(B, T, C)`` token layout: the pointwise convs run as
    ``F.linear`` (a plain matrix product, where a 1x1 ``Conv1d`` takes the
    slow generic convolution path on CPU), BatchNorm sees ``(B*T, C)`` rows,
    and the depthwise conv reads the tokens as a channels-last image
    (``_depthwise_tokens``), oneDNN's fast layout. No transposes are copied.

    BatchNorm with running statistics (evaluation) is folded into the
    depthwise conv. Training gives the gradients of the plain formulation.

    Sequences of at most ``banded_max_tokens`` tokens (per instance; default
    0, never) run the depthwise conv as one banded ``(T x T)`` matmul per
    channel instead (:func:`banded_depthwise`), with the same result and the
    same weights. It beat the ``(B, C, T)`` Conv1d for short sequences, but
    not the channels-last convolution: at 17 tokens that is faster still
    (``bench/RESULTS.md``).
    """

    def __init__(self, dim: int, expansion: int, kernel_size: int, banded_max_tokens: int = 0):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"local heads need an odd kernel size for 'same' padding, "
                             f"got {kernel_size}")
        hidden = dim * expansion
        self.banded_max_tokens = banded_max_tokens
        self.pointwise1 = nn.Conv1d(dim, 2 * hidden, 1)
        self.depthwise = self._depthwise_conv(hidden, kernel_size)
        self.norm = nn.BatchNorm1d(hidden)
        self.pointwise2 = nn.Conv1d(hidden, dim, 1)

    @staticmethod
    def _depthwise_conv(channels: int, kernel_size: int) -> nn.Conv1d | nn.Conv2d:
        return nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2,
                         groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        h = F.linear(x, self.pointwise1.weight.squeeze(-1), self.pointwise1.bias)
        h = F.glu(h, dim=-1)  # (B, T, hidden): first half * sigmoid(second half)
        if self.norm.training or self.norm.running_mean is None:
            h = self._depthwise(h, self.depthwise.weight, self.depthwise.bias)
            # BatchNorm1d over (B*T, hidden) rows: the statistics of (B, hidden, T).
            h = self.norm(h.reshape(-1, h.shape[-1])).view(h.shape)
        else:  # BatchNorm with running statistics is affine: fold it into the conv.
            weight, bias = self._folded_depthwise()
            h = self._depthwise(h, weight, bias)
        h = _swish(h)
        return F.linear(h, self.pointwise2.weight.squeeze(-1), self.pointwise2.bias)

    def _folded_depthwise(self) -> tuple[Tensor, Tensor]:
        """Depthwise weight and bias with the inference BatchNorm folded in."""
        mean, var = self.norm.running_mean, self.norm.running_var
        gamma, beta = self.norm.weight, self.norm.bias
        assert mean is not None and var is not None  # for TorchScript
        scale = torch.rsqrt(var + self.norm.eps)
        shift = -mean * scale
        if gamma is not None and beta is not None:
            scale, shift = scale * gamma, shift * gamma + beta
        bias = self.depthwise.bias
        bias = shift if bias is None else bias * scale + shift
        weight = self.depthwise.weight  # (C, 1, k) or, in LocalHeads2d, (C, 1, k, k)
        return (weight.flatten(1) * scale[:, None]).view_as(weight), bias

    def _depthwise(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return _depthwise_1d(x, weight, bias, self.banded_max_tokens)


class LocalHeads2d(LocalHeads):
    """Local heads whose depthwise conv is ``k x k`` over the ``m x m`` patch grid.

    :class:`LocalHeads` with one change, for ablating GLiT's 1D locality: the
    patch tokens ``1..m^2`` are read as the grid they were cut from, so the
    patches above and below are as near as those beside (in raster order they
    are ``m`` tokens away). Pointwise convs, GLU, BatchNorm (statistics over
    all tokens), Swish and the folding of BatchNorm at inference are shared.

    The class token has no place on the grid. It gets what the conv gives a
    lone token with zero padding all round: the kernel's centre tap (run as a
    1x1 depthwise conv, so ``FlopCounterMode`` counts its MACs too).
    """

    @staticmethod
    def _depthwise_conv(channels: int, kernel_size: int) -> nn.Conv1d | nn.Conv2d:
        return nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2,
                         groups=channels)

    def _depthwise(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return _depthwise_grid(x, weight, bias)


def window_mask(num_tokens: int, window: int, device: torch.device | None = None) -> Tensor:
    """``(T, T)`` boolean mask, True where token ``i`` may attend to token ``j``.

    Within ``window // 2`` positions on the token sequence (the neighbourhood a
    1D conv of kernel ``window`` mixes), and everywhere from and to the class
    token (token 0).
    """
    pos = torch.arange(num_tokens, device=device)
    mask = (pos[:, None] - pos[None, :]).abs() <= window // 2
    mask[0] = True
    mask[:, 0] = True
    return mask


class WindowHeads(nn.Module):
    """Local heads as local-area attention: self-attention within a window of ``k`` tokens.

    ``num_heads`` heads of the channel split's width ``dim / num_heads`` (the
    ``d / N`` of the block): a :class:`GlobalHeads` (``attn``) given a mask,
    so ``qkv``/``proj`` and the fused switch are those of the global heads
    (held, not inherited: TorchScript cannot compile ``super().forward``).
    Each patch token attends only to tokens at most ``k // 2`` positions away
    in the token sequence (:func:`window_mask`), the neighbourhood GLiT's 1D
    conv of kernel ``k`` sees. The class token stays global both ways, as it
    is the one token that gathers the image for the classifier. The mask goes
    into the full ``T x T`` attention (fused or explicit), so the cost is that
    of global heads of the same width; only what they see is local.
    """

    def __init__(self, dim: int, num_heads: int, window: int):
        if window % 2 == 0:
            raise ValueError(f"window heads need an odd window, got {window}")
        super().__init__()
        self.window = window
        self.attn = GlobalHeads(dim, num_heads, dim // num_heads)

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x, attn_mask=window_mask(x.shape[1], self.window, x.device))


def local_heads(kind: str, dim: int, num_heads: int, expansion: int | None,
                kernel_size: int) -> nn.Module:
    """The ``num_heads`` local heads of a block over ``dim`` channels, of ``kind``.

    ``kind`` is a ``glitlib.model.space.LOCAL_KINDS`` value; window heads have no
    expansion (``expansion`` is ignored).
    """
    if kind in ("conv1d", "conv2d"):
        if expansion is None:
            raise ValueError(f"{kind} local heads need an expansion e")
        heads = LocalHeads if kind == "conv1d" else LocalHeads2d
        return heads(dim, expansion, kernel_size)
    if kind == "window":
        return WindowHeads(dim, num_heads, kernel_size)
    raise ValueError(f"unknown kind of local heads {kind!r}; choose conv1d, window or conv2d")


def _depthwise_tokens(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Depthwise 1D conv (odd kernel, same padding) of ``(B, T, C)`` tokens.

    ``x.transpose(1, 2)[:, :, None]`` is a ``(B, C, 1, T)`` image already in
    channels-last memory order, the layout in which oneDNN's depthwise kernel
    is fastest (on CPU about 8x the ``(B, C, T)`` Conv1d); the result comes
    back channels-last too, so the ``(B, T, C)`` view of it is contiguous.
    On CPU, training uses :class:`_DepthwiseTokens` for the backward pass.
    """
    if not torch.jit.is_scripting() and x.device.type == "cpu" and torch.is_grad_enabled() \
            and (x.requires_grad or weight.requires_grad):
        return _depthwise_tokens_autograd(x, weight, bias)
    return _conv_tokens(x, weight, bias, weight.shape[-1] // 2)


def _conv_tokens(x: Tensor, weight: Tensor, bias: Tensor | None, pad: int) -> Tensor:
    """Depthwise conv of ``(B, T, C)`` tokens as a channels-last ``(B, C, 1, T)`` image."""
    y = F.conv2d(x.transpose(1, 2).unsqueeze(2), weight.unsqueeze(2), bias,
                 padding=(0, pad), groups=weight.shape[0])
    return y.squeeze(2).transpose(1, 2)


@torch.jit.unused
def _depthwise_tokens_autograd(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return _DepthwiseTokens.apply(x, weight, bias)


class _DepthwiseTokens(torch.autograd.Function):
    """``_depthwise_tokens`` with a backward pass that stays on fast kernels.

    oneDNN computes the weight gradient of a depthwise conv with a kernel wider
    than a few taps by im2col + GEMM, several times slower than the forward.
    Both gradients are depthwise convolutions themselves, so they are computed
    as forward convolutions: the input gradient convolves the output gradient
    with the flipped kernel; the weight gradient correlates the padded input
    with the output gradient, one channel per (image, channel) pair, summed
    over images afterwards.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _conv_tokens(x, weight, bias, weight.shape[-1] // 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")  # under autocast, as the forward ran
    def backward(ctx, grad: Tensor):  # type: ignore[override]  # decorated: torch's typing
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        k = weight.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _conv_tokens(grad, weight.flip(-1), None, k // 2)
        if ctx.needs_input_grad[1]:
            grad_w = _depthwise_weight_grad(x, grad, k).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 1))
        return grad_x, grad_w, grad_b


def _depthwise_weight_grad(x: Tensor, grad: Tensor, k: int) -> Tensor:
    """``dW[c, 0, j] = sum_{b,t} grad[b, t, c] * x[b, t + j - k // 2, c]`` as one forward conv.

    Every (image, channel) pair becomes a channel of a single-image depthwise
    conv whose kernel is that channel's output gradient (``T`` taps) and whose
    ``k`` outputs are the weight gradient of that image; the images are summed.
    """
    b, t, c = x.shape
    pad = k // 2
    xp = x.new_empty(t + 2 * pad, b, c)  # (T + k - 1, B, C): channel (b, c) has stride 1
    xp[:pad], xp[pad + t:] = 0, 0
    xp[pad:pad + t] = x.transpose(0, 1)
    image = xp.view(1, t + 2 * pad, b * c).transpose(1, 2).unsqueeze(2)
    kernel = grad.permute(0, 2, 1).reshape(b * c, 1, 1, t)
    return F.conv2d(image, kernel, groups=b * c).view(b, c, k).sum(0).unsqueeze(1)


def banded_depthwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Depthwise 1D conv (odd kernel, same padding) as a banded matmul per channel.

    For the few tokens of small images it is about twice as fast on CPU as
    the ``(B, C, T)`` depthwise Conv1d, which computes the same sums (tests
    check values and gradients); the channels-last convolution that
    :class:`LocalHeads` uses by default is faster than both.

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


# -- the shape-dependent steps of the local heads, leaves for torch.fx -----------
# Each reads a tensor's shape or flags to pick its path, which symbolic tracing
# cannot follow (a traced shape is no number). ``torch.fx.wrap`` makes each a
# single call in a traced graph (timm's FX feature extraction, torchvision's
# ``create_feature_extractor``), run eagerly by the graph module: the same path
# and the same bits as the module's own forward.


def _depthwise_1d(x: Tensor, weight: Tensor, bias: Tensor | None,
                  banded_max_tokens: int) -> Tensor:
    """:class:`LocalHeads`' depthwise conv of ``(B, T, C)`` tokens: the channels-last
    convolution, or the banded matmul for at most ``banded_max_tokens`` tokens."""
    if x.shape[1] > banded_max_tokens:
        return _depthwise_tokens(x, weight, bias)
    return banded_depthwise(x.transpose(1, 2), weight, bias).transpose(1, 2)


def _depthwise_grid(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """:class:`LocalHeads2d`' ``k x k`` depthwise conv of the ``(B, T, C)`` tokens' patch
    grid; the class token gets the kernel's centre tap."""
    b, t, c = x.shape
    m = int(math.sqrt(t - 1) + 0.5)  # not math.isqrt: TorchScript lacks it
    if m * m != t - 1:
        raise ValueError(f"2D local heads need a square patch grid, got {t - 1} patch "
                         "tokens; feed square images")
    k = weight.shape[-1]
    centre = weight[:, :, k // 2:k // 2 + 1, k // 2:k // 2 + 1]
    cls = F.conv2d(x[:, 0, :, None, None], centre, bias, groups=c)  # (B, C, 1, 1)
    grid = x[:, 1:].unflatten(1, (m, m)).permute(0, 3, 1, 2)  # (B, C, m, m), channels-last
    y = F.conv2d(grid, weight, bias, padding=k // 2, groups=c)
    return torch.cat([cls.view(b, 1, c), y.flatten(2).transpose(1, 2)], dim=1)


def _swish(x: Tensor) -> Tensor:
    """Swish, in place where no gradient needs the input."""
    return F.silu(x, inplace=not x.requires_grad)


torch.fx.wrap("_depthwise_1d")
torch.fx.wrap("_depthwise_grid")
torch.fx.wrap("_swish")
torch.fx.wrap("window_mask")


def _needed(value: int | None, name: str) -> int:
    """A choice the block's heads need (``d_k`` for global, ``k`` for local heads)."""
    if value is None:
        raise ValueError(f"this block's heads need {name}; give an integer")
    return value


class GlobalLocal(nn.Module):
    """The global-local module: ``g`` global heads and ``N - g`` local heads.

    The input's first ``d*g/N`` channels feed the global heads, the last
    ``d*(N-g)/N`` the local heads; the two outputs are concatenated back.
    ``g == N`` is a plain ViT/DeiT attention block. GLiT's own: no library
    has this channel split. ``local`` picks the kind of local heads
    (:func:`local_heads`); whatever the kind, they sit under the key ``conv``,
    the released checkpoint's name for GLiT's.
    """

    def __init__(
        self, dim: int, num_heads: int, g: int, d_k: int | None,
        e: int | None, k: int | None, local: str = "conv1d",
    ):
        super().__init__()
        self.c_global = dim * g // num_heads
        self.c_local = dim - self.c_global
        self.attn = GlobalHeads(self.c_global, g, _needed(d_k, "d_k")) if g > 0 else None
        self.conv = (local_heads(local, self.c_local, num_heads - g, e, _needed(k, "k"))
                     if g < num_heads else None)

    def forward(self, x: Tensor) -> Tensor:
        # Written out (not via global_local) so that torch.jit.script sees each
        # optional part as a module attribute it can test for None.
        if self.conv is None:
            assert self.attn is not None
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
        assert attn is not None
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
