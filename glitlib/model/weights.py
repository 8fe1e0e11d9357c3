"""Weights from elsewhere: the released GLiT-Tiny checkpoint and timm's DeiT.

Both are renamings of state-dict keys onto :class:`~glitlib.model.glit.GLiT`; shapes are
checked key by key so a wrong file fails with the first key that disagrees.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch
from timm.layers import resample_abs_pos_embed
from torch import Tensor

from ..errors import WeightsError
from ..runtime.files import read_checkpoint
from .arch import Arch, BlockArch, get_arch
from .glit import GLiT
from .keys import OFFICIAL, TIMM, rename, to_official
from .space import SPACES, SearchSpace

__all__ = [
    "load_official", "official_state_dict", "from_deit",
    "load_checkpoint_file", "checkpoint_filter_fn",
]


def load_checkpoint_file(path: str | Path) -> dict:
    """A released checkpoint, read safely (``weights_only=True``); DeiT-style files keep
    their training arguments as an ``argparse.Namespace``, the one extra type allowed."""
    return read_checkpoint(path, "checkpoint", WeightsError, [argparse.Namespace],
                           "re-download or re-save the file")


def _state_dict(source: str | Path | Mapping) -> Mapping[str, Tensor]:
    obj = load_checkpoint_file(source) if isinstance(source, (str, Path)) else source
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"expected a state dict, got {type(obj).__name__}")
    return obj


_LAYOUT_HINT = {
    "official GLiT checkpoint": " (for timm DeiT weights use glitlib.from_deit)",
}


def _check(
    target: Mapping[str, Tensor], renamed: Mapping[str, Tensor], source_keys: Mapping[str, str],
    what: str, adaptable: frozenset[str] = frozenset(),
) -> None:
    """Raise :class:`~glitlib.errors.WeightsError` at the first key that does not fit ``target``.

    ``adaptable`` keys may differ in shape or be absent (timm adapts them)."""
    for new, value in renamed.items():
        key = source_keys[new]
        if new not in target:
            if new in adaptable:
                continue
            hint = (f"renamed to {new!r}, which the model lacks" if new != key
                    else "not a key of this layout")
            raise WeightsError(
                f"{what}: unexpected key {key!r} ({hint}); the file is for another "
                f"architecture or layout{_LAYOUT_HINT.get(what, '')}"
            )
        if new not in adaptable and tuple(value.shape) != tuple(target[new].shape):
            raise WeightsError(
                f"{what}: key {key!r} has shape {tuple(value.shape)} but the model "
                f"expects {tuple(target[new].shape)}; the file is for another "
                "architecture"
            )
    missing = [k for k in target if k not in renamed and k not in adaptable]
    if missing:
        raise WeightsError(
            f"{what}: missing key {missing[0]!r} ({len(missing)} missing in all); "
            "the file is for another architecture"
        )


def _renamed(
    sd: Mapping[str, Tensor], rules: list[tuple[str, str]]
) -> tuple[dict[str, Tensor], dict[str, str]]:
    renamed, source_keys = {}, {}
    for key, value in sd.items():
        new = rename(key, rules)
        renamed[new], source_keys[new] = value, key
    return renamed, source_keys


def _load_renamed(
    model: GLiT, sd: Mapping[str, Tensor], rules: list[tuple[str, str]], what: str
) -> GLiT:
    renamed, source_keys = _renamed(sd, rules)
    _check(model.state_dict(), renamed, source_keys, what)
    _check_finite(renamed, source_keys, what)
    model.load_state_dict(renamed)
    return model.eval()


def _check_finite(sd: Mapping[str, Tensor], source_keys: Mapping[str, str], what: str) -> None:
    """Refuse weights holding NaN or infinity: a damaged file, not a model."""
    for key, value in sd.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"{what}: key {source_keys[key]!r} holds NaN or infinite "
                               "values; the file is damaged: re-download or re-save it")


_ADAPTABLE = frozenset({
    "embed.pos_embed", "embed.patch_embed.proj.weight", "head.weight", "head.bias",
})


def checkpoint_filter_fn(state_dict: Mapping[str, Tensor], model: GLiT) -> dict[str, Tensor]:
    """timm's pretrained filter: the released checkpoint's keys -> ``model``'s keys.

    Takes the released layout (``cls_token``, ``blocks.{i}.0.attn.net.1``, ...)
    or glitlib's own (a saved ``model.state_dict()``). The position embeddings
    are resampled (bicubic, as timm does for ViTs) to the model's patch grid
    when it was built for another ``img_size``; the classifier and the patch
    projection are left for timm to drop or adapt (``num_classes=``,
    ``in_chans=``). Every other key must fit, else :class:`~glitlib.errors.WeightsError`.
    """
    sd = _state_dict(state_dict)
    released = not any(k.startswith("embed.") for k in sd)
    what = "official GLiT checkpoint" if released else "glitlib state dict"
    renamed, source_keys = _renamed(sd, OFFICIAL if released else [])
    _check(model.state_dict(), renamed, source_keys, what, _ADAPTABLE)
    pos_embed = renamed.get("embed.pos_embed")
    if pos_embed is not None and pos_embed.shape != model.embed.pos_embed.shape:
        grid = list(model.embed.patch_embed.grid_size)
        renamed["embed.pos_embed"] = resample_abs_pos_embed(pos_embed, grid, num_prefix_tokens=1)
    return renamed


def load_official(
    source: str | Path | Mapping, space: SearchSpace | None = None, arch: Arch | None = None
) -> GLiT:
    """GLiT-Tiny with the weights of the released checkpoint (file or state dict)."""
    named_space, named_arch = get_arch("glit-tiny")
    model = GLiT(space or named_space, arch or named_arch)
    return _load_renamed(model, _state_dict(source), OFFICIAL, "official GLiT checkpoint")


def official_state_dict(model: GLiT) -> dict[str, Tensor]:
    """The model's weights under the released code's key names."""
    return {to_official(k): v for k, v in model.state_dict().items()}


def from_deit(source: str | Path | Mapping | torch.nn.Module) -> GLiT:
    """An all-global GLiT with a timm DeiT's weights (same logits as the DeiT)."""
    sd = source.state_dict() if isinstance(source, torch.nn.Module) else _state_dict(source)
    if "pos_embed" not in sd or "blocks.0.mlp.fc1.weight" not in sd:
        raise WeightsError(
            "from_deit: not a timm ViT/DeiT state dict (no 'pos_embed' or "
            "'blocks.0.mlp.fc1.weight'); give deit_*_patch16_224 weights"
        )
    d = sd["pos_embed"].shape[-1]
    space = next((s for s in SPACES.values() if s.embed_dim == d and s.img_size == 224), None)
    if space is None:
        raise WeightsError(f"from_deit: no preset space has embed_dim={d}")
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    blocks = []
    for i in range(depth):
        d_z = sd[f"blocks.{i}.mlp.fc1.weight"].shape[0] // d
        blocks.append(BlockArch(space.num_heads, space.head_channels, d_z, None, None))
    if depth != space.depth:
        space = SearchSpace(**{**space.__dict__, "depth": depth})
    num_classes = sd["head.weight"].shape[0] if "head.weight" in sd else space.num_classes
    if num_classes != space.num_classes:
        space = SearchSpace(**{**space.__dict__, "num_classes": num_classes})
    model = GLiT(space, Arch(tuple(blocks), name=f"deit-{space.name}"))
    return _load_renamed(model, sd, TIMM, "timm DeiT state dict")
