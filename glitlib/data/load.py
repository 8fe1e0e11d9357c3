"""The data of a run: the config's dataset, split three ways, refused unless it fits the space."""

from __future__ import annotations

from ..config.search import SearchConfig
from ..errors import DataError
from ..model.space import spaces_that_fit
from ..runtime.context import Runtime
from .memory import load_cifar10, load_digits, load_image_folder
from .source import Splits
from .synthetic import load_bands

__all__ = ["load_splits"]


def _read(cfg: SearchConfig, img_size: int, rt: Runtime, download: bool) -> Splits:
    """The dataset ``cfg`` names: ``digits`` (bundled), ``bands`` (generated), ``cifar10``,
    ``folder``, ``imagenet``.

    ``imagenet`` streams from its folder at the space's image size through
    ``rt.loader`` (the others are read into memory at their own size).
    """
    if cfg.dataset == "digits":
        return load_digits(cfg.seed)
    if cfg.dataset == "bands":
        return load_bands(cfg.seed)
    if cfg.data_dir is None:
        raise DataError(f"dataset {cfg.dataset!r} needs a data folder: pass --data DIR")
    if cfg.dataset == "cifar10":
        return load_cifar10(cfg.data_dir, cfg.seed, download=download)
    if cfg.dataset == "folder":
        return load_image_folder(cfg.data_dir, cfg.seed, loader=rt.loader)
    if cfg.dataset == "imagenet":
        from .imagenet import load_imagenet

        per_class = {} if cfg.heldout_per_class is None else {
            "heldout_per_class": cfg.heldout_per_class}
        return load_imagenet(cfg.data_dir, cfg.seed, img_size, loader=rt.loader,
                             **per_class)
    raise DataError(f"unknown dataset {cfg.dataset!r}; choose digits, bands, cifar10, folder "
                    "or imagenet")


def load_splits(cfg: SearchConfig, rt: Runtime | None = None,
                download: bool = False) -> Splits:
    """The dataset of ``cfg`` split three ways, on ``rt``'s device; refused unless it fits
    the space.

    The split is fixed by ``cfg.seed`` (and, for ImageNet, ``cfg.heldout_per_class``):
    every command that reads a run's files splits its data the same way.
    """
    rt = rt or Runtime()
    space = cfg.search_space()
    splits = _read(cfg, space.img_size, rt, download)
    classes = splits.num_classes
    if not space.fits(splits.shape, classes):
        fits = spaces_that_fit(splits.shape, classes)
        hint = (f"use --preset {' or --preset '.join(fits)}" if fits else
                "write a space JSON for it (see the README) and pass it as --preset FILE")
        raise DataError(
            f"dataset {cfg.dataset!r} has images {tuple(splits.shape)} (C, H, W) and "
            f"{classes} classes, but space {space.name!r} takes "
            f"{(space.in_chans, space.img_size, space.img_size)} and at most "
            f"{space.num_classes}; {hint}")
    return splits.to(rt.device)
