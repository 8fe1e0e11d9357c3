"""An independent GLiT written from the published description, in the released layout.

It is deliberately naive (explicit matmuls, manual padding, a Sequential with
the released indices) and shares no code with glitlib, so agreement between
the two is evidence, not a tautology. Its state-dict keys follow the released
checkpoint: ``blocks.{i}.0.attn.net.1`` is the first pointwise conv, etc.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ToChannels(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 1)


class _Gate(nn.Module):
    def forward(self, x):
        a, b = torch.chunk(x, 2, dim=1)
        return a * torch.sigmoid(b)


class _PaddedDepthwise(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    def forward(self, x):
        return self.conv(F.pad(x, (self.pad, self.pad)))


class _Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class RefMixer(nn.Module):
    """Global part on the first channels, conv part on the rest, concatenated."""

    def __init__(self, dim, heads, g, d_k, e, k):
        super().__init__()
        self.g, self.d_k = g, d_k
        self.cv = dim * g // heads
        self.cc = dim - self.cv
        if g:
            self.qkv = nn.Linear(self.cv, 3 * g * d_k)
            self.proj = nn.Linear(g * d_k, self.cv)
        if self.cc:
            inner = self.cc * e
            self.net = nn.Sequential(
                _ToChannels(),
                nn.Conv1d(self.cc, 2 * inner, 1),
                _Gate(),
                _PaddedDepthwise(inner, k),
                nn.BatchNorm1d(inner),
                _Swish(),
                nn.Conv1d(inner, self.cc, 1),
                _ToChannels(),
            )

    def _attend(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.g, self.d_k).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(2, 3) / self.d_k**0.5, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, -1))

    def forward(self, x):
        parts = []
        if self.g:
            parts.append(self._attend(x[..., : self.cv]))
        if self.cc:
            parts.append(self.net(x[..., self.cv :]))
        return torch.cat(parts, dim=-1)


class RefBlock(nn.Module):
    def __init__(self, dim, heads, g, d_k, d_z, e, k):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = RefMixer(dim, heads, g, d_k, e, k)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, dim * d_z)
        self.mlp.fc2 = nn.Linear(dim * d_z, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        h = self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
        return x + h


class RefGLiT(nn.Module):
    """Whole network; ``blocks`` rows are (g, d_k, d_z, e, k)."""

    def __init__(self, rows, dim=192, heads=3, patch=16, img=224, classes=1000):
        super().__init__()
        n = (img // patch) ** 2
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(
            nn.ModuleList([RefBlock(dim, heads, *row)]) for row in rows
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block[0](x)
        return self.head(self.norm(x)[:, 0])


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial values everywhere, BatchNorm statistics included."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                scale = 0.05 if "weight" in name or "bias" in name else 0.02
                t.copy_(torch.randn(t.shape, generator=g) * scale)
                if name.endswith("running_var") or (
                    ("norm" in name or "net.4" in name) and name.endswith("weight")
                ):
                    t.copy_(1 + torch.rand(t.shape, generator=g) * 0.5)
    return model
