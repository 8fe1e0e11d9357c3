"""The three kinds of local heads: exact costs, supernet paths, and what each one sees."""

import json
import random

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import glitlib as gl
from glitlib.model.layers import LocalHeads2d, WindowHeads, window_mask
from glitlib.model.space import LOCAL_KINDS, SearchSpace, with_local

DIGITS = gl.SPACES["digits"]
# A second layout: 4x4 grid of 8x8 RGB patches, 4 heads, d/N = 8.
OTHER = SearchSpace("other", 32, 8, 3, 7, 32, 3, 4, (4, 8), (1, 2), (1, 3), (3, 5, 7))
# Distribution [0, 2, 1, 3] with the middle values: an all-local, two mixed and an all-global block.
MIDDLE = gl.Arch(tuple(gl.BlockArch(g, 16, 2, 2, 5) for g in (0, 2, 1, 3)))


def _archs(space: SearchSpace, n: int = 6) -> list[gl.Arch]:
    rng = random.Random(space.name)
    return [gl.joint(space).sample(rng) for _ in range(n)]


@pytest.mark.parametrize("kind", LOCAL_KINDS)
@pytest.mark.parametrize("base", [DIGITS, OTHER], ids=["digits", "other"])
def test_counts_equal_model_and_flop_counter(kind, base):
    space = with_local(base, kind)
    archs = _archs(space) + ([MIDDLE] if base is DIGITS else [])
    for i, arch in enumerate(archs):
        torch.manual_seed(i)
        model = gl.GLiT(space, arch).eval()
        cost = gl.count(space, arch)
        assert cost.params == sum(p.numel() for p in model.parameters()), arch
        x = torch.randn(2, space.in_chans, space.img_size, space.img_size)
        assert 2 * cost.macs == gl.measured_macs(model, x), arch  # two images
        assert gl.CostModel(space)(arch) == cost
        names = {n for n, _ in model.named_modules()} | {n for n, _ in model.named_parameters()}
        for row in gl.layer_costs(space, arch):
            assert (row.name.rsplit(".", 1)[0] if "@" in row.name else row.name) in names


def test_flop_counter_misses_fused_window_attention_on_cpu():
    # Masked SDPA, like unmasked, counts as zero here: measured_macs runs explicit matmuls.
    space = with_local(DIGITS, "window")
    arch = gl.Arch((gl.BlockArch(0, None, 2, None, 5),) * 4)  # window heads only
    model = gl.GLiT(space, arch).eval()
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    attention = 4 * 2 * 17 * 17 * 48  # QK^T and AV over all 17 tokens, 48 channels
    assert gl.measured_macs(model, x) == gl.count(space, arch).macs
    assert fc.get_total_flops() // 2 == gl.count(space, arch).macs - attention


def test_middle_costs_per_kind_from_their_formulas():
    # The local heads of MIDDLE's blocks g = 0, 2, 1 hold c = 48, 16, 32 channels (hidden 2c).
    def local(kind: str) -> gl.Cost:
        rows = gl.layer_costs(with_local(DIGITS, kind), MIDDLE)
        return gl.Cost(sum(r.params for r in rows if ".gl.conv." in r.name),
                       sum(r.macs for r in rows if ".gl.conv." in r.name))

    def total(per_block) -> gl.Cost:
        return sum((gl.Cost(*per_block(c, 2 * c)) for c in (48, 16, 32)), gl.Cost(0, 0))

    pointwise = (lambda c, h: c * 2 * h + 2 * h + h * c + c, lambda c, h: 17 * 3 * c * h)
    assert local("conv1d") == total(lambda c, h: (
        pointwise[0](c, h) + 5 * h + h + 2 * h, pointwise[1](c, h) + 17 * 5 * h))
    assert local("conv2d") == total(lambda c, h: (  # k*k taps at 16 patches, 1 at the class
        pointwise[0](c, h) + 25 * h + h + 2 * h, pointwise[1](c, h) + (16 * 25 + 1) * h))
    assert local("window") == total(lambda c, h: (  # qkv + proj; and the T x T matmuls
        4 * c * c + 4 * c, 17 * 4 * c * c + 2 * 17 * 17 * c))
    rest = {kind: gl.count(with_local(DIGITS, kind), MIDDLE) + gl.Cost(
        -local(kind).params, -local(kind).macs) for kind in LOCAL_KINDS}
    assert rest["window"] == rest["conv2d"] == rest["conv1d"]  # only the local heads differ


@pytest.mark.parametrize("kind", ["window", "conv2d"])
@pytest.mark.parametrize("builder", ["stage1", "stage2", "joint"])
def test_extract_equals_supernet_path(kind, builder):
    space = with_local(DIGITS, kind)
    torch.manual_seed(0)
    paths = {
        "stage1": gl.stage1(space),
        "stage2": gl.stage2(space, (0, 1, 2, 3)),
        "joint": gl.joint(space),
    }[builder]
    net = gl.Supernet(paths)
    x = torch.randn(4, 1, 8, 8)
    net.train()
    for seed in range(3):  # non-trivial BatchNorm statistics, trained weights
        net(x, paths.sample(random.Random(seed))).sum().backward()
    net.eval()
    rng = random.Random(0)
    for _ in range(4):
        arch = paths.sample(rng)
        model = net.extract(arch)
        assert model.space.local == kind
        torch.testing.assert_close(model(x), net(x, arch))


def _changed(module: torch.nn.Module, x: torch.Tensor, source: int, target: int) -> bool:
    """Whether perturbing token ``source`` changes the module's output at token ``target``."""
    with torch.no_grad():
        y = module(x)
        x2 = x.clone()
        x2[:, source] += torch.randn_like(x2[:, source])
        return not torch.equal(module(x2)[:, target], y[:, target])


@pytest.mark.parametrize("fused", [True, False])
def test_window_heads_attend_only_within_the_window(fused):
    torch.manual_seed(0)
    heads = WindowHeads(16, 2, 5).eval()
    heads.attn.fused_attn = fused
    x = torch.randn(2, 17, 16)
    assert _changed(heads, x, 10, 8) and _changed(heads, x, 6, 8)  # |i - j| = 2: inside
    assert not _changed(heads, x, 11, 8) and not _changed(heads, x, 16, 8)  # 3 and 8: outside
    assert not _changed(heads, x, 3, 8)
    assert _changed(heads, x, 0, 8) and _changed(heads, x, 16, 0)  # the class token: global
    mask = window_mask(6, 3)
    assert mask.tolist() == [
        [True] * 6,
        [True, True, True, False, False, False],
        [True, True, True, True, False, False],
        [True, False, True, True, True, False],
        [True, False, False, True, True, True],
        [True, False, False, False, True, True],
    ]


def _randomised(head: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        head.norm.weight.uniform_(0.5, 1.5)
        head.norm.bias.uniform_(-0.5, 0.5)
        head.norm.running_mean.uniform_(-1, 1)
        head.norm.running_var.uniform_(0.5, 2)
    return head.eval()


def test_conv2d_heads_are_local_on_the_grid():
    torch.manual_seed(0)
    head = _randomised(LocalHeads2d(8, 2, 3))
    x = torch.randn(2, 17, 8)

    def tok(row: int, col: int) -> int:  # the token of a grid cell of the 4x4 grid
        return 1 + 4 * row + col

    assert _changed(head, x, tok(2, 1), tok(1, 1))  # below: 4 tokens away, a neighbour
    assert _changed(head, x, tok(0, 0), tok(1, 1))  # diagonal
    assert not _changed(head, x, tok(3, 3), tok(1, 1))  # far on the grid
    assert not _changed(head, x, tok(1, 3), tok(2, 0))  # next in raster order, not on the grid
    assert not _changed(head, x, 0, tok(0, 0)) and not _changed(head, x, tok(0, 0), 0)
    conv1d = _randomised(gl.LocalHeads(8, 2, 3))  # GLiT's: the one below is out of reach
    assert not _changed(conv1d, x, tok(2, 1), tok(1, 1))
    assert _changed(conv1d, x, tok(1, 3), tok(2, 0))


@pytest.mark.parametrize("train", [True, False])
def test_conv2d_heads_equal_their_definition(train):
    torch.manual_seed(1)
    head = _randomised(LocalHeads2d(6, 2, 5)).train(train)
    x = torch.randn(3, 17, 6)
    h = F.glu(head.pointwise1(x.transpose(1, 2)), dim=1)  # (B, hidden, T)
    w, b = head.depthwise.weight, head.depthwise.bias
    grid = F.conv2d(h[:, :, 1:].reshape(3, -1, 4, 4), w, b, padding=2, groups=w.shape[0])
    cls = h[:, :, :1] * w[:, 0, 2, 2, None] + b[:, None]  # the centre tap alone
    h = torch.cat([cls, grid.flatten(2)], dim=2)
    want = head.pointwise2(F.silu(F.batch_norm(
        h, head.norm.running_mean.clone(), head.norm.running_var.clone(), head.norm.weight,
        head.norm.bias, train, 0.0, head.norm.eps))).transpose(1, 2)
    torch.testing.assert_close(head(x), want, rtol=1e-5, atol=1e-5)


def test_conv1d_keys_and_shapes_unchanged():
    model = gl.GLiT(DIGITS, MIDDLE)
    shapes = {n: tuple(p.shape) for n, p in model.state_dict().items() if ".gl.conv." in n}
    assert shapes["blocks.0.gl.conv.depthwise.weight"] == (96, 1, 5)
    assert {n.split("gl.conv.")[1] for n in shapes} == {
        "pointwise1.weight", "pointwise1.bias", "depthwise.weight", "depthwise.bias",
        "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
        "norm.num_batches_tracked", "pointwise2.weight", "pointwise2.bias"}
    conv2d = gl.GLiT(with_local(DIGITS, "conv2d"), MIDDLE).state_dict()
    assert tuple(conv2d["blocks.0.gl.conv.depthwise.weight"].shape) == (96, 1, 5, 5)


def test_space_dicts_round_trip_and_default_has_no_local_key(tmp_path):
    assert "local" not in DIGITS.to_dict() and DIGITS.local == "conv1d"
    assert list(DIGITS.to_dict()) == ["name", "img_size", "patch_size", "in_chans",
                                      "num_classes", "embed_dim", "depth", "num_heads",
                                      "d_k", "d_z", "e", "k"]
    for kind in LOCAL_KINDS:
        space = with_local(DIGITS, kind)
        data = json.loads(json.dumps(space.to_dict()))
        assert ("local" in data) == (kind != "conv1d")
        assert SearchSpace.from_dict(data) == space
        path = tmp_path / f"{kind}.json"
        path.write_text(gl.Arch(MIDDLE.blocks).to_json(space))
        loaded_space, arch = gl.load_arch(path)
        assert loaded_space == space and arch == MIDDLE
    assert with_local(DIGITS, "conv1d") == DIGITS
    assert with_local(DIGITS, "window").name == "digits-window"
    assert with_local(with_local(DIGITS, "window"), "conv2d").name == "digits-conv2d"


def test_bad_kind_names_the_choices():
    choices = r"choose one of \['conv1d', 'window', 'conv2d'\]"
    with pytest.raises(gl.ArchitectureError, match="local='conv3d' .*" + choices):
        SearchSpace("x", 8, 2, 1, 10, 48, 4, 3, (8,), (1,), (1,), (3,), local="conv3d")
    with pytest.raises(gl.ArchitectureError, match="search space JSON: .*" + choices):
        SearchSpace.from_dict({**DIGITS.to_dict(), "local": "attention"})
    with pytest.raises(gl.ArchitectureError, match=choices):
        with_local(DIGITS, "Conv2D")
    with pytest.raises(gl.ArchitectureError, match="conv1d local heads only"):
        gl.reference_formula_macs(with_local(DIGITS, "window"), MIDDLE)


def test_window_spaces_drop_e():
    window = with_local(DIGITS, "window")
    b = gl.BlockArch(g=1, d_k=16, d_z=2, e=4, k=5)
    assert b.canonical(3, window.uses_e).e is None and b.canonical(3).e == 4
    assert gl.Arch((b,) * 4).canonical(window).blocks[0].e is None
    # Per block: g=0 (k, d_z), g=3 (d_k, d_z), g=1,2 (d_k, d_z, k); e counts nowhere.
    assert gl.joint(window).size == (9 + 9 + 2 * 27) ** 4
    assert gl.joint(with_local(DIGITS, "conv2d")).size == gl.joint(DIGITS).size
    no_e = gl.Arch((gl.BlockArch(1, 16, 2, None, 5),) * 4)
    no_e.validate(window)
    with pytest.raises(gl.ArchitectureError, match="block 0: e=None"):
        no_e.validate(DIGITS)
    with pytest.raises(gl.ArchitectureError, match="block 0: e=3"):
        gl.Arch((gl.BlockArch(1, 16, 2, 3, 5),) * 4).validate(window)
    assert all(len(c) == 4 for c in gl.stage1(window).choices)


@pytest.mark.parametrize("kind", ["window", "conv2d"])
def test_torch_jit_script(kind):
    import warnings

    space = with_local(DIGITS, kind)
    model = gl.GLiT(space, MIDDLE).eval()
    gl.use_fused_attention(model, False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
        scripted = torch.jit.script(model)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
