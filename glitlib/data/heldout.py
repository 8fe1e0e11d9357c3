"""The search's held-out images of ImageNet: which training images, and the record that a
resumed run checks against.

GLiT never scores candidates on ImageNet's official validation set: it holds 50
training images per class out (50,000) as the search's held-out split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..runtime.files import read_json, write_json
from ..runtime.seeds import numpy_rng
from .source import Splits

__all__ = ["heldout_indices", "heldout_record", "check_heldout", "save_heldout"]


def heldout_indices(labels: Sequence[int], per_class: int, seed: int,
                    classes: Sequence[str] | None = None) -> list[int]:
    """The search's held-out set: ``per_class`` training images of every class.

    GLiT holds 50 per class out (50,000 images). Each class draws its own images
    from ``(seed, class)``, so the choice in one class does not depend on the others.
    ``classes`` (names) only serve the error message. Sorted.
    """
    if per_class < 1:
        raise ConfigError(f"held-out images per class must be at least 1, got {per_class}")
    label = np.asarray(labels, dtype=np.int64)
    n_classes = len(classes) if classes is not None else int(label.max()) + 1
    by_class = np.argsort(label, kind="stable")  # indices grouped by class, in order
    ends = np.cumsum(np.bincount(label, minlength=n_classes))
    chosen = []
    for c in range(n_classes):
        idx = by_class[(ends[c - 1] if c else 0):ends[c]]
        if len(idx) <= per_class:
            name = classes[c] if classes is not None else str(c)
            raise DataError(f"class {name} has {len(idx)} training image(s); holding out "
                            f"{per_class} per class leaves none to train on: hold out fewer "
                            "per class or add images to that class")
        chosen.append(numpy_rng(seed, c).permutation(idx)[:per_class])
    return sorted(int(i) for i in np.concatenate(chosen))


def heldout_record(splits: Splits) -> dict[str, Any]:
    """What identifies the held-out set, to save as ``heldout.json`` beside a run's
    outputs: its seed, images per class and files (relative to ``train/``)."""
    val: Any = splits.val  # a StreamingSource of held-out images (else refused below)
    if getattr(val, "heldout", None) is None or getattr(val, "root", None) is None:
        raise DataError(f"dataset {splits.name!r} has no held-out ImageNet images; "
                        "load it with load_imagenet")
    files = sorted(Path(path).relative_to(val.root).as_posix() for path, _ in val.samples)
    return {"dataset": "imagenet", **val.heldout, "count": len(files), "files": files}


def check_heldout(saved: Any, current: dict[str, Any], path: str | Path) -> None:
    """Refuse to resume when the held-out set saved in ``path`` is not this run's."""
    fresh = "or start afresh with --overwrite"
    if not isinstance(saved, dict) or not isinstance(saved.get("files"), list):
        raise DataError(f"{path} is not a held-out record; delete it and rerun with "
                        f"--resume, {fresh}")
    for key in ("seed", "per_class"):
        if saved.get(key) != current[key]:
            raise DataError(f"the held-out set in {path} was drawn with {key} "
                            f"{saved.get(key)}, this run uses {current[key]}; rerun with "
                            f"the same {key}, {fresh}")
    if saved["files"] != current["files"]:
        gone = sorted(set(saved["files"]) - set(current["files"]))
        new = sorted(set(current["files"]) - set(saved["files"]))
        example = (f"{gone[0]} is no longer held out" if gone else
                   f"{new[0]} is newly held out")
        raise DataError(f"the held-out set in {path} does not match this data folder "
                        f"({len(gone) + len(new)} file(s) differ: {example}); point --data "
                        f"to the ImageNet copy the run started with, {fresh}")


def save_heldout(out: Path, splits: Splits, resume: bool) -> None:
    """``out/heldout.json``: the files held out of training to score the search (streamed
    data only). Written once; a resumed run checks that the data folder still gives the
    same list."""
    if getattr(splits.val, "heldout", None) is None:
        return
    record = heldout_record(splits)
    saved = out / "heldout.json"
    if resume and saved.exists():
        check_heldout(read_json(saved, "held-out file list"), record, saved)
    else:
        write_json(saved, record)
