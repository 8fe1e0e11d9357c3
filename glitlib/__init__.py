"""glitlib: GLiT, the global-local image transformer, and the search that finds it.

Architectures, spaces, errors and configs import at once; everything that needs
torch (models, costs, the search) loads on first use, so the ``glit`` command
answers ``--help`` without importing torch.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .arch import (
    LOCAL_KINDS,
    NAMED_ARCHS,
    SPACES,
    Arch,
    ArchitectureError,
    BlockArch,
    SearchSpace,
    get_arch,
    get_space,
    load_arch,
    load_space,
    with_local,
)
from .config import EvolutionConfig, SearchConfig, TrainConfig
from .errors import (
    BudgetError,
    CheckpointError,
    ConfigError,
    DataError,
    GlitError,
    OutputError,
)

_LAZY = {
    "costs": ("Cost", "CostModel", "count", "layer_costs", "measured_macs",
              "reference_formula_macs", "space_sizes"),
    "layers": ("FFN", "Block", "GlobalHeads", "GlobalLocal", "LocalHeads", "LocalHeads2d",
               "WindowHeads", "PatchEmbed"),
    "model": ("GLiT", "use_fused_attention"),
    "paths": ("PathSpace", "joint", "stage1", "stage2"),
    "supernet": ("Supernet",),
    "search": ("run_search",),
    "records": ("Candidate", "Retrained"),
    "weights": ("WeightsError", "from_deit", "load_official", "official_state_dict"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}
_MODULES = {"ablations", "arch", "budget", "cli", "config", "costs", "data", "device",
            "errors", "evaluate", "evolution", "exhaustive", "explorer", "io", "layers",
            "model", "paths", "plots", "ranking", "records", "replay", "rundir", "sampling",
            "search", "search_cli", "supernet", "timm_models", "train", "weights"}

__all__ = [
    "__version__", "LOCAL_KINDS", "NAMED_ARCHS", "SPACES", "Arch", "ArchitectureError", "BlockArch",
    "SearchSpace", "get_arch", "get_space", "load_arch", "load_space", "with_local",
    "SearchConfig",
    "TrainConfig", "EvolutionConfig", "GlitError", "ConfigError", "DataError", "OutputError",
    "CheckpointError", "BudgetError", "build", *_HOME,
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'glitlib' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _MODULES)


def build(name_or_arch: str | Arch, space: str | SearchSpace | None = None, **kwargs: Any):
    """A model from a named architecture (``"glit-tiny"``) or an :class:`Arch`.

    ``kwargs`` go to :class:`GLiT`: e.g. ``num_classes=10``, ``img_size=32``,
    ``drop_path_rate=0.1``, ``dynamic_img_size=True``.
    """
    from .model import GLiT

    if isinstance(name_or_arch, Arch):
        return GLiT(get_space(space or "tiny"), name_or_arch, **kwargs)
    named_space, arch = get_arch(name_or_arch)
    return GLiT(get_space(space) if space else named_space, arch, **kwargs)


# `import glitlib` registers glit_tiny_patch16_224 with timm (which imports torch). The
# `glit` command skips that here: its commands import what they need.
if Path(sys.argv[0] if sys.argv else "").name not in ("glit", "-m"):
    from . import timm_models  # noqa: F401
