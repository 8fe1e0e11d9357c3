"""The explorer's pure functions: the numbers it shows are the exact counter's."""

import random
import subprocess
import sys

import pytest

import glitlib as gl
from glitlib.studies import explorer as ex

TINY = gl.get_space("tiny")
DEIT = gl.get_arch("deit-tiny")[1]
GLIT = gl.get_arch("glit-tiny")[1]


def test_import_does_not_load_ipywidgets():
    code = "import sys, glitlib.studies.explorer; print('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("arch", [DEIT, GLIT], ids=["deit-tiny", "glit-tiny"])
def test_describe_presets_equals_count(arch):
    info = ex.describe(TINY, arch)
    cost = gl.count(TINY, arch)
    assert (info["params"], info["macs"]) == (cost.params, cost.macs)
    assert info["stem_params"] + sum(b["params"] for b in info["blocks"]) == cost.params
    assert info["stem_macs"] + sum(b["macs"] for b in info["blocks"]) == cost.macs
    assert info["distribution"] == arch.distribution


def test_describe_blocks_match_the_layer_list():
    info = ex.describe(TINY, GLIT)
    for row in info["blocks"]:
        prefix = f"blocks.{row['index']}."
        layers = [r for r in gl.layer_costs(TINY, GLIT) if r.name.startswith(prefix)]
        assert row["macs"] == sum(r.macs for r in layers)
        assert row["params"] == sum(r.params for r in layers)
    assert info["kinds"] == {"global": 5, "mixed": 3, "local": 4}


def test_ratios_are_to_deit_tiny():
    assert ex.reference_arch(TINY) == DEIT
    assert ex.reference_arch(TINY).name == "DeiT-Tiny"
    info = ex.describe(TINY, GLIT)
    deit = gl.count(TINY, DEIT)
    assert info["reference"] == "DeiT-Tiny"
    assert info["macs_ratio"] == gl.count(TINY, GLIT).macs / deit.macs
    assert info["params_ratio"] == gl.count(TINY, GLIT).params / deit.params
    assert ex.describe(TINY, DEIT)["macs_ratio"] == 1.0


def test_explorer_and_search_budget_agree_on_the_all_global_network():
    """One rule: the explorer's reference is the network whose MACs are the default limit."""
    for space in gl.SPACES.values():
        ref = ex.reference_arch(space)
        assert ref.blocks == gl.all_global(space).blocks
        assert gl.count(space, ref).macs == gl.default_max_macs(space)
        assert ref.distribution == (space.num_heads,) * space.depth
    digits = gl.SPACES["digits"]
    assert ex.describe(digits, gl.all_global(digits))["macs"] == gl.default_max_macs(digits)


def test_edits_change_macs_as_the_counter_says():
    rng = random.Random(0)
    for _ in range(50):
        dist = tuple(rng.randrange(TINY.num_heads + 1) for _ in range(TINY.depth))
        for base in (DEIT, GLIT):
            arch = ex.with_distribution(TINY, base, dist)
            assert arch.distribution == dist
            info = ex.describe(TINY, arch)
            assert info["macs"] == gl.count(TINY, arch).macs
            assert info["params"] == gl.count(TINY, arch).params


def test_fill_rule_keeps_preset_values_and_fills_middle_candidates():
    # DeiT-Tiny's blocks have d_k = 64, d_z = 4 and no local values:
    # a mixed block gets e and k from the middle candidates (2 and 31).
    dist = (1,) + DEIT.distribution[1:]
    b = ex.with_distribution(TINY, DEIT, dist).blocks[0]
    assert (b.g, b.d_k, b.d_z, b.e, b.k) == (1, 64, 4, 2, 31)
    # every edit of DeiT-Tiny is a path of stage 1's supernet
    assert gl.stage1(TINY).contains(ex.with_distribution(TINY, DEIT, GLIT.distribution))
    # GLiT-Tiny block 1 is all local (e=2, k=31, d_z=4): one global head
    # brings in d_k = 64 and keeps e, k, d_z.
    dist = list(GLIT.distribution)
    dist[1] = 1
    b = ex.with_distribution(TINY, GLIT, dist).blocks[1]
    assert (b.g, b.d_k, b.d_z, b.e, b.k) == (1, 64, 4, 2, 31)
    # block 11 (3/0, d_k=128, d_z=6) made all local drops d_k and keeps d_z
    dist = list(GLIT.distribution)
    dist[11] = 0
    b = ex.with_distribution(TINY, GLIT, dist).blocks[11]
    assert (b.g, b.d_k, b.d_z, b.e, b.k) == (0, None, 6, 2, 31)


def test_going_back_restores_the_preset():
    dist = list(GLIT.distribution)
    dist[0] = 0
    edited = ex.with_distribution(TINY, GLIT, dist)
    assert edited != GLIT
    assert ex.with_distribution(TINY, GLIT, GLIT.distribution) == GLIT


def test_cycle_block_wraps_from_n_to_zero():
    dist = GLIT.distribution
    assert dist[0] == 3 and ex.cycle_block(TINY, dist, 0)[0] == 0
    assert ex.cycle_block(TINY, dist, 1)[1] == 1
    assert ex.cycle_block(TINY, dist, 1)[2:] == dist[2:]
    with pytest.raises(gl.ArchitectureError, match="block 12 does not exist"):
        ex.cycle_block(TINY, dist, 12)


@pytest.mark.parametrize("dist, message", [
    ((3,) * 11, "distribution has 11 blocks but space 'tiny' has depth 12"),
    ((3,) * 11 + (4,), r"block 11: G=4 global heads is impossible with N=3"),
    ((-1,) + (3,) * 11, r"block 0: G=-1 .* give an integer from 0 to 3"),
    ((1.5,) + (3,) * 11, r"block 0: G=1\.5"),
])
def test_invalid_distributions_raise(dist, message):
    with pytest.raises(gl.ArchitectureError, match=message):
        ex.with_distribution(TINY, DEIT, dist)


def test_describe_rejects_an_arch_of_another_space():
    with pytest.raises(gl.ArchitectureError, match="depth"):
        ex.describe(gl.get_space("digits"), GLIT)


def test_presets_read_search_results(tmp_path):
    space = gl.get_space("digits")
    arch = gl.joint(space).sample(random.Random(3))
    folder = tmp_path / "digits-run"
    folder.mkdir()
    (folder / "arch.json").write_text(gl.Arch(arch.blocks, name="found").to_json(space))
    options = ex.presets([folder / "arch.json"])
    assert list(options)[:2] == ["DeiT-Tiny", "GLiT-Tiny"]
    name = "search result: digits-run (digits)"
    assert options[name][0] == space and options[name][1] == arch
    info = ex.describe(*options[name])
    assert info["macs"] == gl.count(space, arch).macs
    with pytest.raises(gl.ArchitectureError, match="neither a named architecture"):
        ex.presets([tmp_path / "missing.json"])


def test_figure_draws_every_head():
    fig = ex.figure(TINY, GLIT, highlight=2)
    top, bottom = fig.axes[:2]
    heads = [p for p in top.patches if p.get_width() == 0.7]
    assert len(heads) == TINY.depth * TINY.num_heads
    globals_ = [p for p in heads if p.get_facecolor() == top.patches[1].get_facecolor()]
    assert len(globals_) == sum(GLIT.distribution)
    assert len(bottom.patches) == 2 * TINY.depth  # the network's and DeiT-Tiny's bars


def test_explorer_widget_updates_live():
    pytest.importorskip("ipywidgets")
    ui = ex.explorer("DeiT-Tiny")
    menu, _, _, blocks, sliders, numbers, _ = ui.children
    assert [s.value for s in sliders.children] == list(DEIT.distribution)
    blocks.children[0].click()  # 3 -> 0 global heads in block 0
    assert sliders.children[0].value == 0
    arch = ex.with_distribution(TINY, DEIT, (0,) + DEIT.distribution[1:])
    assert f"{gl.count(TINY, arch).macs:,d}" in numbers.value
    sliders.children[5].value = 1
    arch = ex.with_distribution(TINY, DEIT, (0, 3, 3, 3, 3, 1) + DEIT.distribution[6:])
    assert f"{gl.count(TINY, arch).macs:,d}" in numbers.value
    menu.value = "GLiT-Tiny"
    assert [s.value for s in sliders.children] == list(GLIT.distribution)
    assert f"{gl.count(TINY, GLIT).macs:,d}" in numbers.value
    assert blocks.children[2].description == "1/2"


def test_explorer_switches_to_a_search_result_of_another_space(tmp_path):
    pytest.importorskip("ipywidgets")
    space = gl.get_space("digits")
    arch = gl.joint(space).sample(random.Random(5))
    (tmp_path / "arch.json").write_text(arch.to_json(space))
    ui = ex.explorer("GLiT-Tiny", search_results=[tmp_path / "arch.json"])
    menu, _, _, blocks, sliders, numbers, _ = ui.children
    menu.value = f"search result: {tmp_path.name} (digits)"
    assert len(sliders.children) == len(blocks.children) == space.depth
    assert [s.value for s in sliders.children] == list(arch.distribution)
    assert f"{gl.count(space, arch).macs:,d}" in numbers.value
    sliders.children[0].value = (arch.blocks[0].g + 1) % (space.num_heads + 1)
    edited = ex.with_distribution(space, arch, [s.value for s in sliders.children])
    assert f"{gl.count(space, edited).macs:,d}" in numbers.value
