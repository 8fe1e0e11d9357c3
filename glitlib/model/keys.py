"""State-dict key layouts: the released GLiT code's and timm's DeiT's, onto glitlib's.

Plain renamings, below the model, so that :class:`~glitlib.model.glit.GLiT` itself can take
a state dict in the released layout (:func:`released_to_glitlib`, run before every
``load_state_dict``) and :mod:`glitlib.model.weights` can check files key by key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["OFFICIAL", "TIMM", "rename", "to_official", "is_released_layout",
           "released_to_glitlib"]

# Released GLiT code -> glitlib. Each block is wrapped in a one-element list
# ("blocks.{i}.0"); the global and local parts live together under "attn", the
# conv part as a Sequential "net" (0: rearrange, 1: pointwise, 2: GLU,
# 3: depthwise wrapper, 4: BatchNorm, 5: Swish, 6: pointwise).
OFFICIAL = [
    (r"^cls_token$", "embed.cls_token"),
    (r"^pos_embed$", "embed.pos_embed"),
    (r"^patch_embed\.proj\.", "embed.patch_embed.proj."),
    (r"^blocks\.(\d+)\.0\.attn\.(qkv|proj)\.", r"blocks.\1.gl.attn.\2."),
    (r"^blocks\.(\d+)\.0\.attn\.net\.1\.", r"blocks.\1.gl.conv.pointwise1."),
    (r"^blocks\.(\d+)\.0\.attn\.net\.3\.conv\.", r"blocks.\1.gl.conv.depthwise."),
    (r"^blocks\.(\d+)\.0\.attn\.net\.4\.", r"blocks.\1.gl.conv.norm."),
    (r"^blocks\.(\d+)\.0\.attn\.net\.6\.", r"blocks.\1.gl.conv.pointwise2."),
    (r"^blocks\.(\d+)\.0\.(norm1|norm2)\.", r"blocks.\1.\2."),
    (r"^blocks\.(\d+)\.0\.mlp\.", r"blocks.\1.ffn."),
]
# timm's VisionTransformer (DeiT) -> glitlib.
TIMM = [
    (r"^cls_token$", "embed.cls_token"),
    (r"^pos_embed$", "embed.pos_embed"),
    (r"^patch_embed\.proj\.", "embed.patch_embed.proj."),
    (r"^blocks\.(\d+)\.attn\.", r"blocks.\1.gl.attn."),
    (r"^blocks\.(\d+)\.mlp\.", r"blocks.\1.ffn."),
]


_RELEASED_BLOCK = re.compile(r"^blocks\.\d+\.0\.")


def rename(key: str, rules: list[tuple[str, str]]) -> str:
    """``key`` renamed by the first of ``rules`` (pattern, replacement) that matches."""
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def is_released_layout(keys: Iterable[str]) -> bool:
    """Whether state-dict keys are the released code's (``cls_token``, ``blocks.{i}.0.*``):
    not glitlib's (``embed.*``), nor a timm DeiT's (``blocks.{i}.attn.*``)."""
    keys = list(keys)
    return ("cls_token" in keys and not any(k.startswith("embed.") for k in keys)
            and any(_RELEASED_BLOCK.match(k) for k in keys))


def released_to_glitlib(state_dict: MutableMapping[str, Any], prefix: str = "") -> bool:
    """Rename, in place, the keys under ``prefix`` from the released layout to glitlib's.

    Does nothing (and returns False) unless those keys are in the released layout
    (:func:`is_released_layout`). A :class:`~glitlib.model.glit.GLiT` runs this before every
    ``load_state_dict``, so timm's ``load_checkpoint(model, released_file)`` and
    ``model.load_state_dict(released_state_dict)`` load the released weights.
    """
    local = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
    if not is_released_layout(local):
        return False
    for key in local:
        state_dict[prefix + rename(key, OFFICIAL)] = state_dict.pop(prefix + key)
    return True


def to_official(key: str) -> str:
    """glitlib key -> released-code key."""
    rules = [
        (r"^embed\.(cls_token|pos_embed)$", r"\1"),
        (r"^embed\.patch_embed\.", "patch_embed."),
        (r"^blocks\.(\d+)\.gl\.attn\.", r"blocks.\1.0.attn."),
        (r"^blocks\.(\d+)\.gl\.conv\.pointwise1\.", r"blocks.\1.0.attn.net.1."),
        (r"^blocks\.(\d+)\.gl\.conv\.depthwise\.", r"blocks.\1.0.attn.net.3.conv."),
        (r"^blocks\.(\d+)\.gl\.conv\.norm\.", r"blocks.\1.0.attn.net.4."),
        (r"^blocks\.(\d+)\.gl\.conv\.pointwise2\.", r"blocks.\1.0.attn.net.6."),
        (r"^blocks\.(\d+)\.(norm1|norm2)\.", r"blocks.\1.0.\2."),
        (r"^blocks\.(\d+)\.ffn\.", r"blocks.\1.0.mlp."),
    ]
    return rename(key, rules)
