"""The GLiT model: patch tokens, class token, position embeddings, blocks, head.

Built from a :class:`~glitlib.model.space.SearchSpace` (the skeleton) and an
:class:`~glitlib.model.arch.Arch` (the choices of every block). The model speaks
timm's model API (classifier access and reset, gradient checkpointing, layer
groups for layer-wise lr decay, intermediate features, other input sizes), so
timm's training tools take it as they take a ViT.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from timm.layers import PatchEmbed, resample_abs_pos_embed
from timm.models import checkpoint, checkpoint_seq
from torch import Tensor, nn

from .arch import Arch, BlockArch
from .keys import released_to_glitlib
from .layers import FFN, Block, GlobalHeads, GlobalLocal
from .space import SearchSpace

__all__ = ["GLiT", "make_block", "init_weights", "use_fused_attention", "take_indices"]

_POOLS = ("token", "avg", "")


def make_block(
    space: SearchSpace, b: BlockArch, ffn_act: str = "gelu",
    drop: float = 0.0, drop_path: float = 0.0,
) -> Block:
    """One standalone block for the choices ``b``, with the space's kind of local heads."""
    d = space.embed_dim
    gl = GlobalLocal(d, space.num_heads, b.g, b.d_k, b.e, b.k, space.local)
    return Block(d, gl, FFN(d, b.d_z, ffn_act, drop), drop_path)


def init_weights(module: nn.Module) -> None:
    """timm's ViT init: truncated normal (std .02) Linears, zero biases, unit LayerNorms.

    The rule of timm's ``init_weights_vit_timm``, kept here on purpose: timm
    draws with its own inverse-CDF ``trunc_normal_``, torch's
    ``nn.init.trunc_normal_`` (used here) draws by rejection, so the same seed
    gives other weights. Same distribution, but every seeded model, trained
    result and committed book output would change; this keeps them.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def use_fused_attention(model: nn.Module, flag: bool) -> nn.Module:
    """Switch every global head between fused SDPA (``True``) and explicit matmuls.

    Both compute the same; the explicit form is what ``FlopCounterMode`` can
    count on CPU. (Not timm's ``set_fused_attn``, which sets timm's default
    for attention modules created later.)
    """
    for m in model.modules():
        if isinstance(m, GlobalHeads):
            m.fused_attn = flag  # type: ignore[misc]  # timm marks it Final for TorchScript
    return model


class Embedding(nn.Module):
    """Patch tokens with the class token prepended and position embeddings added.

    With ``dynamic_img_size`` any image size divisible by the patch size is
    taken: the position embeddings are resampled (bicubic, as timm's ViT does)
    to the image's patch grid on every call.
    """

    def __init__(self, space: SearchSpace, drop: float = 0.0, dynamic_img_size: bool = False):
        super().__init__()
        d = space.embed_dim
        self.dynamic_img_size = dynamic_img_size
        self.patch_embed = PatchEmbed(
            space.img_size, space.patch_size, space.in_chans, d,
            strict_img_size=not dynamic_img_size,
            output_fmt="NHWC" if dynamic_img_size else None,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, space.num_tokens, d))
        self.pos_drop = nn.Dropout(drop)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        pos_embed = self.pos_embed
        if self.dynamic_img_size:
            B, H, W, C = x.shape
            pos_embed = resample_abs_pos_embed(self.pos_embed, [H, W], num_prefix_tokens=1)
            x = x.reshape(B, H * W, C)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return self.pos_drop(torch.cat([cls, x], dim=1) + pos_embed)


def take_indices(num_blocks: int, indices: int | list[int] | tuple[int, ...] | None
                 ) -> tuple[list[int], int]:
    """The blocks ``indices`` names, counted from the first, and the largest of them.

    timm's convention: ``None`` all blocks, an int ``n`` the last ``n``, a list the
    blocks it lists (negative ones from the end).
    """
    if indices is None:
        indices = num_blocks
    if isinstance(indices, int):
        if not 0 < indices <= num_blocks:
            raise ValueError(f"indices={indices}: take the last 1 to {num_blocks} blocks")
        taken = list(range(num_blocks - indices, num_blocks))
    else:
        taken = [num_blocks + i if i < 0 else i for i in indices]
        if not taken or any(not 0 <= t < num_blocks for t in taken):
            raise ValueError(f"indices={list(indices)}: name blocks from 0 to "
                             f"{num_blocks - 1} (negative: from the end)")
    return taken, max(taken)


def _take_released_layout(module: nn.Module, state_dict: dict[str, Any], prefix: str,
                          *args: Any) -> None:
    """``load_state_dict`` pre-hook: a state dict in the released checkpoint's layout
    (``cls_token``, ``blocks.{i}.0.attn.qkv``, ...) is renamed to glitlib's in place,
    so ``model.load_state_dict`` and timm's ``load_checkpoint`` read the released file."""
    released_to_glitlib(state_dict, prefix)


def _square(img_size: int | tuple[int, int] | list[int]) -> int:
    if isinstance(img_size, int):
        return img_size
    h, w = img_size
    if h != w:
        raise ValueError(
            f"img_size={tuple(img_size)}: GLiT's position embeddings cover a square grid; "
            "give one size, or dynamic_img_size=True to feed other shapes"
        )
    return int(h)


class GLiT(nn.Module):
    """A global-local image transformer for one architecture.

    ``forward_features`` returns the normalised tokens, ``forward_head`` the
    logits from the class token, ``forward`` both in a row (as in timm).
    ``num_classes``, ``in_chans`` and ``img_size`` override the space's;
    ``num_classes=0`` gives a model without classifier. ``load_state_dict`` takes
    glitlib's keys or the released checkpoint's (renamed on the way in).
    """

    def __init__(
        self, space: SearchSpace, arch: Arch, ffn_act: str = "gelu",
        drop_rate: float = 0.0, drop_path_rate: float = 0.0, *,
        num_classes: int | None = None, in_chans: int | None = None,
        img_size: int | tuple[int, int] | None = None,
        dynamic_img_size: bool = False, global_pool: str = "token",
    ):
        super().__init__()
        if global_pool not in _POOLS:
            raise ValueError(f"global_pool={global_pool!r}; choose one of {list(_POOLS)}")
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 0):
            raise ValueError(f"num_classes={num_classes!r}; give a count of classes, or 0 for "
                             "a model without classifier (timm's convention)")
        overrides: dict[str, Any] = {"in_chans": in_chans}
        overrides["img_size"] = None if img_size is None else _square(img_size)
        overrides["num_classes"] = num_classes if num_classes else None
        space = replace(space, **{k: v for k, v in overrides.items() if v is not None})
        arch.validate(space)
        self.space, self.arch = space, arch
        self.num_classes = space.num_classes if num_classes is None else num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = self.embed_dim = space.embed_dim
        self.num_prefix_tokens = 1
        self.dynamic_img_size = dynamic_img_size
        self.grad_checkpointing = False
        self.embed = Embedding(space, drop_rate, dynamic_img_size)
        dpr = torch.linspace(0, drop_path_rate, space.depth).tolist()
        self.blocks = nn.Sequential(*[
            make_block(space, b, ffn_act, drop_rate, p) for b, p in zip(arch.blocks, dpr)
        ])
        self.norm = nn.LayerNorm(space.embed_dim, eps=1e-6)
        self.head = self._new_head(self.num_classes)
        self.feature_info = [
            dict(module=f"blocks.{i}", num_chs=space.embed_dim, reduction=space.patch_size)
            for i in range(space.depth)
        ]
        init_weights(self)
        self.register_load_state_dict_pre_hook(_take_released_layout)

    def _new_head(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    # -- timm's model API ----------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"embed.pos_embed", "embed.cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Parameter groups by depth: the embedding, then one per block, the
        final norm with the last block (timm's layer-wise lr decay reads this)."""
        return dict(stem=r"^embed", blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of keeping its
        activations. The local heads' BatchNorm then sees each batch twice in
        training mode, so its running statistics move a little faster."""
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier for ``num_classes`` (0: none), e.g. to fine-tune."""
        if global_pool is not None:
            if global_pool not in _POOLS:
                raise ValueError(f"global_pool={global_pool!r}; choose one of {list(_POOLS)}")
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = self._new_head(num_classes).to(self.embed.cls_token.device)
        self.head.train(self.training)

    # -- forward ---------------------------------------------------------------
    def forward_features(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return self.norm(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.global_pool == "token":
            x = x[:, 0]  # the class token
        elif self.global_pool == "avg":
            x = x[:, self.num_prefix_tokens:].mean(dim=1)
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self, x: Tensor, indices: int | list[int] | None = None,
        return_prefix_tokens: bool = False, norm: bool = False, stop_early: bool = False,
        output_fmt: str = "NCHW", intermediates_only: bool = False,
    ) -> list[Any] | tuple[Tensor, list[Any]]:
        """The outputs of the blocks in ``indices`` (last ``n`` if an int, all if
        None), as timm's ViT gives them: patch tokens as ``(B, C, H, W)`` maps
        (``"NCHW"``) or ``(B, HW, C)`` (``"NLC"``), the class token apart."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt={output_fmt!r}; choose 'NCHW' or 'NLC'")
        taken, max_index = take_indices(len(self.blocks), indices)
        B, _, height, width = x.shape
        H, W = self.embed.patch_embed.dynamic_feat_size((height, width))
        x = self.embed(x)
        blocks = self.blocks[: max_index + 1] if stop_early else self.blocks
        intermediates = []
        for i, blk in enumerate(blocks):
            x = checkpoint(blk, x) if self.grad_checkpointing else blk(x)
            if i in taken:
                intermediates.append(self.norm(x) if norm else x)
        prefix = [y[:, : self.num_prefix_tokens] for y in intermediates]
        intermediates = [y[:, self.num_prefix_tokens:] for y in intermediates]
        if output_fmt == "NCHW":
            intermediates = [
                y.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous() for y in intermediates
            ]
        if return_prefix_tokens:
            intermediates = list(zip(intermediates, prefix))
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True,
    ) -> list[int]:
        """Drop the blocks after the last of ``indices`` (and the norm/head if asked)."""
        taken, max_index = take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[: max_index + 1]
        if prune_norm:
            self.norm = nn.Identity()  # type: ignore[assignment]
        if prune_head:
            self.reset_classifier(0, "")
        return taken
