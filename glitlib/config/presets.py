"""The paper's settings on ImageNet: the whole search as GLiT and SPOS ran it."""

from __future__ import annotations

from ..errors import ConfigError
from .recipes import SupernetConfig, TrainConfig
from .search import SearchConfig

__all__ = ["RUN_PRESETS", "IMAGENET_TRAIN", "HELD_OUT", "imagenet_preset"]

IMAGENET_TRAIN = 1_281_167  # ImageNet-1k training images
HELD_OUT = 50_000  # 50 per class, the search's held-out split (GLiT)
RUN_PRESETS = ("imagenet-tiny", "imagenet-small", "imagenet-base")


def _epochs(epochs: int, batch: int, images: int = IMAGENET_TRAIN - HELD_OUT) -> int:
    return epochs * (images // batch)


def imagenet_preset(name: str, data_dir: str | None = None, supernet_batch: int = 1024,
                    retrain_batch: int = 1024) -> SearchConfig:
    """The whole search at the paper's settings: ``imagenet-tiny``, ``-small`` or ``-base``.

    Space: DeiT-Tiny/Small/Base's width, 12 blocks, patch 16 at 224 px, the paper's
    candidates. Data: ImageNet, 50 images per class held out of train to score the
    search. Supernet: SPOS's 120 epochs at batch 1024 (GLiT does not publish its
    supernet schedule), sampled under the MACs limit, AdamW at DeiT's learning
    rate. Scoring: BatchNorm recalibrated on 200 x 128 training images, then held-out
    accuracy on a fixed sample of 8,000 of the 50,000 held-out images (SPOS's search
    scores on 40 x 200): its standard error, about half a point, is far below how
    loosely supernet and retrained accuracies agree, so the sample decides what to retrain
    as well as all 50,000 would, at a sixth of the cost; the retrained candidates are
    scored on all of them.
    Evolution: population 50, 20 generations (1,000 candidates). Retraining: the
    best 5 per stage, DeiT's recipe (300 epochs, batch 1024, lr 5e-4 x 1024/512,
    5 warm-up epochs, weight decay 0.05, drop path 0.1, label smoothing 0.1,
    Mixup 0.8, CutMix 1.0, EMA; gradient clipping 1.0 for Tiny, as GLiT-Tiny).
    Epochs are counted in steps on the 1,231,167 training images left; another
    (global) batch size keeps the epochs and scales the learning rate as DeiT does.
    """
    if name not in RUN_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {list(RUN_PRESETS)}")
    size = name.removeprefix("imagenet-")
    sb, rb = supernet_batch, retrain_batch
    supernet = SupernetConfig(steps=_epochs(120, sb), batch_size=sb, lr=5e-4 * sb / 512,
                              warmup_steps=_epochs(5, sb), ckpt_every=1000)
    retrain = TrainConfig(steps=_epochs(300, rb), batch_size=rb, lr=5e-4 * rb / 512,
                          warmup_steps=_epochs(5, rb), drop_path=0.1, mixup=0.8,
                          cutmix=1.0, model_ema_decay=0.99996,
                          clip_grad=1.0 if size == "tiny" else 0.0, ckpt_every=1000)
    return SearchConfig(space=size, dataset="imagenet", data_dir=data_dir, rank_sample=0,
                        heldout_subset=8000, bn_batches=200, bn_batch_size=128,
                        constrain_supernet=True, supernet=supernet, retrain=retrain)
