"""glitlib: GLiT, the global-local image transformer, and the search that finds it.

The package by concern, each layer using only those below it::

    cli       the glit command
    studies   ablations, truth tables of small spaces, explorer, replay
    nas       path spaces, supernet, sampling, budget, evaluator, strategies, pipeline
    train     the training loop, many ranks, one network on its own
    data      batch sources, in-memory datasets, ImageNet streamed
    config    recipes, the search config, presets
    model     spaces and architectures, layers, the GLiT model, costs, weights, timm
    stats     the tests behind every claim (rank agreement, paired tests, equivalence)
    runtime   device, ranks, safe files, run folders, seeds, progress
    errors

The names below are the public API, each loaded from its one home on first use, so
``import glitlib`` and ``glit --help`` answer without importing torch. timm learns
glitlib's models as soon as both are imported, in either order.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

from ._version import __version__

# name -> the module that is its home
_HOMES: dict[str, tuple[str, ...]] = {
    "errors": ("GlitError", "ConfigError", "DataError", "OutputError", "CheckpointError",
               "BudgetError", "ArchitectureError", "WeightsError", "ReplayError",
               "ShippedFileError"),
    "model.space": ("LOCAL_KINDS", "SPACES", "SearchSpace", "get_space", "load_space",
                    "with_local"),
    "model.arch": ("NAMED_ARCHS", "Arch", "BlockArch", "all_global", "get_arch", "load_arch"),
    "model.costs": ("Cost", "CostModel", "count", "layer_costs", "measured_macs",
                    "reference_formula_macs", "default_max_macs"),
    "model.layers": ("FFN", "Block", "GlobalHeads", "GlobalLocal", "LocalHeads",
                     "LocalHeads2d", "WindowHeads", "PatchEmbed"),
    "model.glit": ("GLiT", "use_fused_attention"),
    "model.weights": ("from_deit", "load_official", "official_state_dict"),
    "config.recipes": ("SupernetConfig", "TrainConfig", "EvolutionConfig"),
    "config.search": ("SearchConfig", "ResolvedConfig"),
    "runtime.context": ("Runtime",),
    "runtime.shipped": ("shipped",),
    "nas.paths": ("PathSpace", "joint", "stage1", "stage2", "space_sizes"),
    "nas.supernet": ("Supernet",),
    "nas.records": ("Candidate", "Retrained"),
    "nas.pipeline": ("run_search",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_PACKAGES = ("cli", "config", "data", "model", "nas", "runtime", "studies", "train", "errors",
             "stats")

__all__ = ["__version__", "build", *_HOME]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif name in _PACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'glitlib' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_PACKAGES))


def build(name_or_arch: str | Any, space: str | Any | None = None, **kwargs: Any) -> Any:
    """A model from a named architecture (``"glit-tiny"``) or an :class:`Arch`.

    ``kwargs`` go to :class:`GLiT`: e.g. ``num_classes=10``, ``img_size=32``,
    ``drop_path_rate=0.1``, ``dynamic_img_size=True``.
    """
    from .model.arch import Arch, get_arch
    from .model.glit import GLiT
    from .model.space import get_space

    if isinstance(name_or_arch, Arch):
        return GLiT(get_space(space or "tiny"), name_or_arch, **kwargs)
    named_space, arch = get_arch(name_or_arch)
    return GLiT(get_space(space) if space else named_space, arch, **kwargs)


class _RegisterWithTimm(importlib.abc.MetaPathFinder):
    """Registers glitlib's models with timm right after timm itself is imported.

    timm takes seconds to import, so ``import glitlib`` does not import it; but a
    user who imports both expects ``timm.create_model("glit_tiny_patch16_224")`` to
    work, in either order. This finder wraps timm's own loader once, then steps aside.
    """

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """timm's loader, and glitlib's registration once timm has run."""

    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        importlib.import_module(".model.timm_models", __name__)

    def __getattr__(self, name: str) -> Any:  # the rest of timm's loader (resources, ...)
        return getattr(self.loader, name)


if "timm" in sys.modules:
    importlib.import_module(".model.timm_models", __name__)
elif not any(isinstance(f, _RegisterWithTimm) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithTimm())
