"""Architectures as data: presets, JSON round trips, validation messages."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glitlib as gl
from glitlib.model.space import SearchSpace


def test_presets_follow_the_paper():
    tiny, small, base = (gl.SPACES[n] for n in ("tiny", "small", "base"))
    assert (tiny.embed_dim, tiny.num_heads, small.embed_dim, small.num_heads) == (192, 3, 384, 6)
    assert (base.embed_dim, base.num_heads) == (768, 12)
    for space in (tiny, small, base):
        assert space.num_tokens == 197 and space.head_channels == 64
        assert space.d_k == (32, 64, 128) and space.k == (17, 31, 45)
        assert space.d_z == (2, 4, 6) and space.e == (1, 2, 4)


def test_glit_tiny_matches_released_table():
    space, arch = gl.get_arch("glit-tiny")
    assert arch.distribution == (3, 0, 1, 3, 0, 1, 3, 1, 0, 3, 0, 3)
    assert arch.blocks[4] == gl.BlockArch(g=0, d_k=None, d_z=4, e=4, k=45)
    assert arch.blocks[11] == gl.BlockArch(g=3, d_k=128, d_z=6, e=None, k=None)
    assert all(b.k != 17 for b in arch.blocks)  # no searched block uses the smallest kernel
    assert arch.validate(space) is arch


def test_deit_tiny_is_all_global():
    space, arch = gl.get_arch("deit-tiny")
    assert set(arch.blocks) == {gl.BlockArch(3, 64, 4, None, None)}


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(sorted(gl.SPACES)), st.integers(0, 10**9))
def test_json_round_trip(space_name, seed):
    import random

    space = gl.SPACES[space_name]
    arch = gl.joint(space).sample(random.Random(seed))
    text = arch.to_json(space)
    assert gl.Arch.from_json(text) == arch
    assert gl.SearchSpace.from_dict(json.loads(text)["space"]) == space


def test_load_arch_reads_its_space(tmp_path):
    space, arch = gl.get_arch("glit-tiny")
    path = tmp_path / "a.json"
    path.write_text(arch.to_json(gl.SPACES["tiny"]))
    assert gl.load_arch(path) == (space, arch)


def _blocks(**change):
    space, arch = gl.get_arch("glit-tiny")
    blocks = list(arch.blocks)
    for i, b in list(enumerate(blocks)):
        if i == 2:
            blocks[i] = gl.BlockArch(**{**b.to_dict(), **change})
    return space, gl.Arch(tuple(blocks))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"g": 4}, ["block 2", "g=4", "[0, 1, 2, 3]"]),
        ({"d_k": 48}, ["block 2", "d_k=48", "[32, 64, 128]"]),
        ({"k": 7}, ["block 2", "k=7", "[17, 31, 45]"]),
        ({"e": None}, ["block 2", "e=None", "[1, 2, 4]"]),
        ({"d_z": 3}, ["block 2", "d_z=3", "[2, 4, 6]"]),
    ],
)
def test_invalid_block_names_block_field_value_and_choices(change, words):
    space, arch = _blocks(**change)
    with pytest.raises(gl.ArchitectureError) as err:
        arch.validate(space)
    for word in words:
        assert word in str(err.value)


def test_wrong_depth():
    space, arch = gl.get_arch("glit-tiny")
    with pytest.raises(gl.ArchitectureError, match="11 blocks.*depth 12"):
        gl.Arch(arch.blocks[:11]).validate(space)


def test_bad_spaces_and_names():
    with pytest.raises(gl.ArchitectureError, match="not divisible by patch_size=16"):
        SearchSpace("x", 200, 16, 3, 10, 192, 2, 3, (64,), (4,), (1,), (3,))
    with pytest.raises(gl.ArchitectureError, match="must be odd"):
        SearchSpace("x", 224, 16, 3, 10, 192, 2, 3, (64,), (4,), (1,), (4,))
    with pytest.raises(gl.ArchitectureError, match="unknown search space 'huge'.*tiny"):
        gl.get_space("huge")
    with pytest.raises(gl.ArchitectureError, match="unknown architecture 'glit-huge'"):
        gl.get_arch("glit-huge")


def test_malformed_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"blocks": [')
    with pytest.raises(gl.ArchitectureError, match="malformed.*line 1"):
        gl.load_arch(path, gl.SPACES["tiny"])
    with pytest.raises(gl.ArchitectureError, match='"blocks" list'):
        gl.Arch.from_json('{"layers": []}')
    with pytest.raises(gl.ArchitectureError, match="block 0: expected an object"):
        gl.Arch.from_json('{"blocks": [{"g": 1}]}')


def test_canonical_drops_unused_values():
    b = gl.BlockArch(g=0, d_k=64, d_z=4, e=2, k=31).canonical(3)
    assert b.d_k is None and b.e == 2
    b = gl.BlockArch(g=3, d_k=64, d_z=4, e=2, k=31).canonical(3)
    assert (b.e, b.k, b.d_k) == (None, None, 64)
