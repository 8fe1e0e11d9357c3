"""The analytic counter against the model itself and FlopCounterMode."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import glitlib as gl
from glitlib.model.space import SearchSpace

# Small spaces of different shapes, so the property test covers many layouts.
SMALL_SPACES = [
    gl.SPACES["digits"],
    SearchSpace("s1", 32, 8, 3, 7, 24, 2, 3, (4, 8, 16), (1, 2), (1, 2, 3), (3, 5)),
    SearchSpace("s2", 24, 4, 2, 5, 32, 3, 4, (8, 16), (1, 3), (2,), (1, 7, 9)),
    SearchSpace("s3", 16, 8, 1, 3, 12, 1, 6, (2, 6), (2,), (1, 2), (3,)),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SMALL_SPACES), st.integers(0, 2**32))
def test_counter_equals_model_and_flop_counter(space, seed):
    arch = gl.joint(space).sample(random.Random(seed))
    torch.manual_seed(seed % 1000)
    model = gl.GLiT(space, arch).eval()
    cost = gl.count(space, arch)
    assert cost.params == sum(p.numel() for p in model.parameters())
    x = torch.randn(1, space.in_chans, space.img_size, space.img_size)
    assert cost.macs == gl.measured_macs(model, x)
    assert gl.CostModel(space)(arch) == cost


def test_layer_costs_name_real_modules():
    space, arch = gl.get_arch("glit-tiny")
    names = {n for n, _ in gl.build("glit-tiny").named_modules()}
    names |= {n for n, _ in gl.build("glit-tiny").named_parameters()}
    for row in gl.layer_costs(space, arch):
        base = row.name.rsplit(".", 1)[0] if "@" in row.name else row.name
        assert base in names, row.name


def test_glit_tiny_and_deit_tiny_numbers():
    space, arch = gl.get_arch("glit-tiny")
    cost = gl.count(space, arch)
    assert cost.params == 7_264_456  # 7.26M (7.3M in the released README)
    assert cost.macs == 1_472_873_280  # ~1.47G counting every layer
    assert gl.reference_formula_macs(space, arch) == 1_332_470_592  # the published 1.33G
    deit_space, deit = gl.get_arch("deit-tiny")
    assert gl.count(deit_space, deit) == gl.Cost(5_717_416, 1_253_683_200)
    assert gl.reference_formula_macs(deit_space, deit) == 1_253_683_200


def test_reference_formula_gap_is_half_of_first_pointwise_convs():
    space, arch = gl.get_arch("glit-tiny")
    halves = sum(r.macs // 2 for r in gl.layer_costs(space, arch)
                 if r.name.endswith("pointwise1"))
    gap = gl.count(space, arch).macs - gl.reference_formula_macs(space, arch)
    assert gap == halves == 140_402_688


def test_flop_counter_misses_fused_attention_on_cpu():
    # Why measured_macs switches to explicit matmuls: fused SDPA counts as zero here.
    from torch.utils.flop_counter import FlopCounterMode

    space, arch = gl.get_arch("deit-tiny")
    model = gl.GLiT(space, arch).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.randn(1, 3, 224, 224))
    attention = 12 * 2 * 197 * 197 * 192
    assert gl.measured_macs(model, torch.randn(1, 3, 224, 224)) == 1_253_683_200
    assert fc.get_total_flops() // 2 == 1_253_683_200 - attention  # QK^T and AV unseen


def test_space_sizes_exact():
    tiny = gl.SPACES["tiny"]
    sizes = gl.space_sizes(tiny, (3, 0, 1, 3, 0, 1, 3, 1, 0, 3, 0, 3))
    assert sizes["size_paper"] == 324**12  # ~1.3e30
    assert sizes["size_distinct"] == (27 + 9 + 2 * 81) ** 12  # G=0, G=N, mixed
    assert sizes["stage1_size"] == 4**12
    assert sizes["stage2_size"] == 9**5 * 27**4 * 81**3
    assert f"{sizes['size_paper']:.1e}" == "1.3e+30"


@pytest.mark.parametrize("name", ["tiny", "small", "base", "digits"])
def test_cost_model_caches_blocks(name):
    space = gl.SPACES[name]
    cm = gl.CostModel(space)
    rng = random.Random(0)
    for _ in range(20):
        arch = gl.joint(space).sample(rng)
        assert cm(arch) == gl.count(space, arch)
