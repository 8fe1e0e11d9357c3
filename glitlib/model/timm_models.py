"""timm registration: ``timm.create_model("glit_tiny_patch16_224")`` after ``import glitlib``.

glitlib registers this module as soon as both glitlib and timm are imported, in
either order (``glitlib`` watches for timm's import), so ``import glitlib`` itself
stays light. This module therefore imports only timm at its top; the model is built
on first use.

The model is built by timm's ``build_model_with_cfg`` with a pretrained config
that holds GLiT's data settings (those of the released evaluation: 224 px,
bicubic resize to 256 then a 224 centre crop, ImageNet mean/std) and a filter
that maps the released checkpoint's keys onto glitlib's. No weights are
published under a URL timm knows, so nothing is downloaded: give the released
file with ``pretrained_cfg_overlay=dict(file=PATH)``.

Every registered name takes ``arch=``: a searched network (an ``Arch``, an
architecture dict, or the path of the ``arch.json`` that ``glit search``
writes), built in the space it carries, else in the registered model's. The
pretrained config then follows that space (classes, channels, image size), so
``timm.data.resolve_data_config`` gives the model's input, and timm's
``train.py``/``validate.py`` take it as ``--model-kwargs arch=PATH``.
"""

from __future__ import annotations

from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from ..errors import WeightsError

__all__ = ["glit_tiny_patch16_224"]


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return {
        "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": None,
        "fixed_input_size": True, "crop_pct": 224 / 256, "interpolation": "bicubic",
        "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
        "first_conv": "embed.patch_embed.proj", "classifier": "head",
        "paper_ids": "arXiv:2107.02960",
        "paper_name": "GLiT: Neural Architecture Search for Global and Local Image Transformer",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({"glit_tiny_patch16_224.in1k": _cfg()})


def _has_weights_source(kwargs: dict[str, Any]) -> bool:
    """Whether the caller named weights (a file, a state dict, a URL)."""
    sources = [kwargs.get("pretrained_cfg_overlay"), kwargs.get("pretrained_cfg")]
    for src in sources:
        get = src.get if isinstance(src, dict) else lambda k, s=src: getattr(s, k, None)
        if any(get(k) for k in ("file", "state_dict", "url", "hf_hub_id")):
            return True
    return False


def _space_cfg(space: Any, registered: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The pretrained-config entries that follow the model's space and size.

    Input size and channels are the model's (``img_size``/``in_chans`` if given,
    else the space's), the classes the space's. The mean and std are ImageNet's,
    averaged over the colours for other than three channels. A space other than
    the registered model's is taken at its own image size (``crop_pct`` 1: no
    resize, no crop), as ``glit search`` scored its networks.
    """
    in_chans = kwargs.get("in_chans") or space.in_chans
    img_size = kwargs.get("img_size") or space.img_size
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    cfg: dict[str, Any] = {"input_size": (in_chans, h, w), "num_classes": space.num_classes}
    if in_chans != 3:
        cfg["mean"] = (round(sum(IMAGENET_DEFAULT_MEAN) / 3, 4),) * in_chans
        cfg["std"] = (round(sum(IMAGENET_DEFAULT_STD) / 3, 4),) * in_chans
    if space != registered:
        cfg["crop_pct"] = 1.0
    return cfg


def _create(variant: str, arch_name: str, pretrained: bool, **kwargs: Any) -> Any:
    if pretrained and not _has_weights_source(kwargs):
        raise WeightsError(
            f"{variant}: nothing is downloaded; pass the released file with "
            "pretrained_cfg_overlay=dict(file=PATH), or use pretrained=False"
        )
    from .arch import get_arch, resolve_arch
    from .glit import GLiT
    from .weights import checkpoint_filter_fn, load_checkpoint_file

    registered, arch = get_arch(arch_name)
    space = registered
    if kwargs.get("arch") is not None:
        space, arch = resolve_arch(kwargs["arch"], registered)
    kwargs.pop("arch", None)
    overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
    if pretrained and overlay.get("file"):
        load_checkpoint_file(overlay["file"])  # a missing or broken file: one clear line
    overlay = {**_space_cfg(space, registered, kwargs), **overlay}
    out_indices = kwargs.pop("out_indices", min(3, space.depth))
    return build_model_with_cfg(
        GLiT, variant, pretrained,
        pretrained_cfg_overlay=overlay,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        space=space, arch=arch, **kwargs,
    )


@register_model
def glit_tiny_patch16_224(pretrained: bool = False, **kwargs: Any) -> Any:
    """The released GLiT-Tiny architecture (7.26M params, 1.47G MACs); with ``arch=``
    any searched network (``arch="runs/digits/arch.json"``)."""
    return _create("glit_tiny_patch16_224", "glit-tiny", pretrained, **kwargs)
