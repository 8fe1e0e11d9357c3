"""timm registration: ``timm.create_model("glit_tiny_patch16_224")`` after ``import glitlib``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from timm.models import register_model

from .arch import get_arch
from .model import GLiT

__all__ = ["glit_tiny_patch16_224"]


@register_model
def glit_tiny_patch16_224(pretrained: bool = False, **kwargs: Any) -> GLiT:
    """The released GLiT-Tiny architecture (7.26M params, 1.47G MACs)."""
    if pretrained:
        raise ValueError(
            "glit_tiny_patch16_224: nothing is downloaded; create the model with "
            "pretrained=False and load the released file with glitlib.load_official(path)"
        )
    space, arch = get_arch("glit-tiny")
    overrides = {k: kwargs.pop(k) for k in ("num_classes", "in_chans", "img_size") if k in kwargs}
    kwargs.pop("pretrained_cfg", None)
    kwargs.pop("pretrained_cfg_overlay", None)
    kwargs.pop("cache_dir", None)
    return GLiT(replace(space, **overrides), arch, **kwargs)
