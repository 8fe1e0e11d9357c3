"""The GLiT model: patch tokens, class token, position embeddings, blocks, head.

Built from a :class:`~glitlib.arch.SearchSpace` (the skeleton) and an
:class:`~glitlib.arch.Arch` (the choices of every block).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .arch import Arch, BlockArch, SearchSpace
from .layers import FFN, Block, GlobalHeads, GlobalLocal, PatchEmbed

__all__ = ["GLiT", "make_block", "init_weights", "set_fused_attn"]


def make_block(
    space: SearchSpace, b: BlockArch, ffn_act: str = "gelu",
    drop: float = 0.0, drop_path: float = 0.0,
) -> Block:
    """One standalone block for the choices ``b``."""
    d = space.embed_dim
    gl = GlobalLocal(d, space.num_heads, b.g, b.d_k, b.e, b.k)
    return Block(d, gl, FFN(d, b.d_z, ffn_act, drop), drop_path)


def init_weights(module: nn.Module) -> None:
    """timm's ViT init: truncated normal (std .02) Linears, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def set_fused_attn(model: nn.Module, fused: bool) -> nn.Module:
    """Switch every global head between fused SDPA and explicit matmuls."""
    for m in model.modules():
        if isinstance(m, GlobalHeads):
            m.fused_attn = fused
    return model


class Embedding(nn.Module):
    """Patch tokens with the class token prepended and position embeddings added."""

    def __init__(self, space: SearchSpace, drop: float = 0.0):
        super().__init__()
        d = space.embed_dim
        self.patch_embed = PatchEmbed(space.img_size, space.patch_size, space.in_chans, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, space.num_tokens, d))
        self.pos_drop = nn.Dropout(drop)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return self.pos_drop(torch.cat([cls, x], dim=1) + self.pos_embed)


class GLiT(nn.Module):
    """A global-local image transformer for one architecture.

    ``forward_features`` returns the normalised tokens, ``forward_head`` the
    logits from the class token, ``forward`` both in a row (as in timm).
    """

    def __init__(
        self, space: SearchSpace, arch: Arch, ffn_act: str = "gelu",
        drop_rate: float = 0.0, drop_path_rate: float = 0.0,
    ):
        super().__init__()
        arch.validate(space)
        self.space, self.arch = space, arch
        self.num_classes = space.num_classes
        self.num_features = self.embed_dim = space.embed_dim
        self.embed = Embedding(space, drop_rate)
        dpr = torch.linspace(0, drop_path_rate, space.depth).tolist()
        self.blocks = nn.Sequential(*[
            make_block(space, b, ffn_act, drop_rate, p) for b, p in zip(arch.blocks, dpr)
        ])
        self.norm = nn.LayerNorm(space.embed_dim, eps=1e-6)
        self.head = nn.Linear(space.embed_dim, space.num_classes)
        init_weights(self)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"embed.pos_embed", "embed.cls_token"}

    def forward_features(self, x: Tensor) -> Tensor:
        return self.norm(self.blocks(self.embed(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = x[:, 0]  # the class token
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
