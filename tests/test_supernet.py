"""The supernet runs every path; extraction copies it exactly."""

import random

import pytest
import torch

import glitlib as gl

SPACE = gl.SPACES["digits"]


@pytest.mark.parametrize("builder", ["stage1", "stage2", "joint"])
def test_extract_equals_supernet_path(builder):
    torch.manual_seed(0)
    paths = {
        "stage1": gl.stage1(SPACE),
        "stage2": gl.stage2(SPACE, (0, 1, 2, 3)),
        "joint": gl.joint(SPACE),
    }[builder]
    net = gl.Supernet(paths)
    x = torch.randn(4, 1, 8, 8)
    net.train()
    for _ in range(3):  # put non-trivial statistics into the BatchNorms
        net(x, paths.sample(random.Random(1)))
    net.eval()
    rng = random.Random(0)
    for _ in range(5):
        arch = paths.sample(rng)
        model = net.extract(arch)
        assert not model.training
        torch.testing.assert_close(model(x), net(x, arch))


def test_choice_counts_per_stage():
    tiny = gl.SPACES["tiny"]
    assert all(len(c) == 4 for c in gl.stage1(tiny).choices)
    assert [len(c) for c in gl.stage2(tiny, (0, 1, 3)+(3,)*9).choices][:3] == [27, 81, 9]
    net = gl.Supernet(gl.stage1(SPACE))
    assert len(net.blocks[0].attn) == 3 and len(net.blocks[0].conv) == 3
    assert len(net.blocks[0].ffn) == 1


def test_off_path_modules_get_no_gradient():
    paths = gl.joint(SPACE)
    net = gl.Supernet(paths)
    arch = paths.sample(random.Random(3))
    net(torch.randn(2, 1, 8, 8), arch).sum().backward()
    # The parameters the path runs: the shared ones plus its own choice in every block.
    on_path = {id(p) for name, p in net.named_parameters() if not name.startswith("blocks.")}
    for block, b in zip(net.blocks, arch.blocks):
        on_path |= {id(p) for p in block.norm1.parameters()}
        on_path |= {id(p) for p in block.norm2.parameters()}
        for m in block.path_modules(b):
            if m is not None:
                on_path |= {id(p) for p in m.parameters()}
    with_grad = {id(p) for p in net.parameters() if p.grad is not None}
    assert with_grad == on_path  # exactly the path, nothing off it
    assert len(on_path) < len(list(net.parameters()))


def test_unknown_choice_is_refused():
    net = gl.Supernet(gl.stage1(SPACE))
    arch = gl.Arch((gl.BlockArch(1, 8, 2, 2, 5),) * 4)  # d_k=8 is not stage 1's 16
    with pytest.raises(gl.ArchitectureError, match="block 0: .* not a choice"):
        net(torch.randn(1, 1, 8, 8), arch)
    with pytest.raises(gl.ArchitectureError, match="stage 2: distribution has 2 blocks"):
        gl.stage2(SPACE, (1, 2))
