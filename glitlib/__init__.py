"""glitlib: GLiT, the global-local image transformer, and the search that finds it."""

from .arch import (
    NAMED_ARCHS,
    SPACES,
    Arch,
    ArchitectureError,
    BlockArch,
    SearchSpace,
    get_arch,
    get_space,
    load_arch,
)
from .costs import (
    Cost,
    CostModel,
    count,
    layer_costs,
    measured_macs,
    reference_formula_macs,
    space_sizes,
)
from .layers import FFN, Block, LocalHeads, GlobalHeads, GlobalLocal, PatchEmbed
from .model import GLiT, set_fused_attn
from .paths import PathSpace, joint, stage1, stage2
from .supernet import Supernet

__version__ = "0.1.0"

__all__ = [
    "NAMED_ARCHS", "SPACES", "Arch", "ArchitectureError", "BlockArch", "SearchSpace",
    "get_arch", "get_space", "load_arch", "Cost", "CostModel", "count", "layer_costs",
    "reference_formula_macs", "space_sizes", "measured_macs", "FFN", "Block", "LocalHeads",
    "GlobalHeads", "GlobalLocal", "PatchEmbed", "GLiT", "set_fused_attn", "PathSpace", "joint",
    "stage1",
    "stage2", "Supernet", "build",
]


def build(name_or_arch: str | Arch, space: str | SearchSpace | None = None, **kwargs) -> GLiT:
    """A model from a named architecture (``"glit-tiny"``) or an :class:`Arch`."""
    if isinstance(name_or_arch, Arch):
        return GLiT(get_space(space or "tiny"), name_or_arch, **kwargs)
    named_space, arch = get_arch(name_or_arch)
    return GLiT(get_space(space) if space else named_space, arch, **kwargs)


from . import timm_models  # noqa: E402,F401  (registers glit_tiny_patch16_224 with timm)
from .weights import WeightsError, from_deit, load_official, official_state_dict  # noqa: E402

__all__ += ["WeightsError", "from_deit", "load_official", "official_state_dict"]
