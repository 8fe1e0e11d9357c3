"""GLiT through timm's model API, as a timm user drives it (nothing downloads).

The "released" file is written here: a seeded GLiT-Tiny saved under the released
code's key names, in the release's file format (a DeiT-style dict with the
training arguments as an ``argparse.Namespace``).
"""

import argparse
import warnings

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, resolve_data_config
from timm.layers import resample_abs_pos_embed
from timm.optim import create_optimizer_v2

import glitlib as gl

NAME = "glit_tiny_patch16_224"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """(path of a released-format file, the model its weights came from)."""
    torch.manual_seed(0)
    source = gl.build("glit-tiny").eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so they must load too
        for m in source.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("release") / "glit_tiny.pth"
    args = argparse.Namespace(model=NAME, input_size=224, lr=5e-4)
    torch.save({"model": gl.official_state_dict(source), "epoch": 299, "args": args}, path)
    return path, source


def create(path, **kwargs):
    return timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                             **kwargs)


def test_create_model_loads_the_released_file(released):
    path, source = released
    assert "blocks.1.0.attn.net.1.weight" in torch.load(path, weights_only=False)["model"]
    model = create(path).eval()
    assert isinstance(model, gl.GLiT)
    want = source.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_data_config_is_the_released_evaluation(released):
    model = create(released[0])
    assert resolve_data_config(model=model) == {
        "input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 224 / 256,
        "crop_mode": "center", "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
    }
    cfg = model.pretrained_cfg
    assert cfg["classifier"] == "head" and cfg["first_conv"] == "embed.patch_embed.proj"


def test_pretrained_without_a_file_downloads_nothing():
    with pytest.raises(gl.WeightsError, match="nothing is downloaded.*pretrained_cfg_overlay"):
        timm.create_model(NAME, pretrained=True)


def test_wrong_file_names_the_first_bad_key(released, tmp_path):
    sd = gl.official_state_dict(gl.build("deit-tiny"))
    path = tmp_path / "deit_like.pth"
    torch.save({"model": sd}, path)
    with pytest.raises(gl.WeightsError, match=r"'blocks\.0\.0\.attn\.qkv\.weight'.*\(576, 192\)"):
        create(path)


def test_ten_classes_from_the_1000_class_weights(released):
    path, source = released
    model = create(path, num_classes=10)
    assert model.get_classifier().out_features == 10 and model.num_classes == 10
    want = source.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items()
               if not k.startswith("head."))
    model = create(path)
    model.reset_classifier(10)
    assert model.get_classifier() is model.head and model.head.out_features == 10
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 10)
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, model.head_hidden_size)


def test_build_takes_num_classes():
    model = gl.build("glit-tiny", num_classes=10, img_size=32)
    assert model.head.out_features == 10 and model.space.num_classes == 10
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="square"):
        gl.build("glit-tiny", img_size=(32, 64))


def test_other_img_size_resamples_position_embeddings(released):
    path, source = released
    model = create(path, img_size=32).eval()
    want = resample_abs_pos_embed(source.embed.pos_embed.detach(), [2, 2], num_prefix_tokens=1)
    assert model.embed.pos_embed.shape == (1, 5, 192)
    torch.testing.assert_close(model.embed.pos_embed.detach(), want)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1000)


def test_dynamic_img_size(released):
    path, source = released
    model = create(path, dynamic_img_size=True).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))  # same grid: nothing resampled
        wide = model.forward_features(torch.randn(2, 3, 64, 96))
    assert wide.shape == (2, 1 + 4 * 6, 192)


def test_layer_decay_groups_follow_depth():
    model = gl.build("glit-tiny", img_size=32)
    opt = create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05, layer_decay=0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    scale, decay = {}, {}
    for group in opt.param_groups:
        for p in group["params"]:
            scale[names[id(p)]], decay[names[id(p)]] = group["lr_scale"], group["weight_decay"]
    assert scale["embed.patch_embed.proj.weight"] == 0.5**13
    assert [scale[f"blocks.{i}.norm1.weight"] for i in range(12)] == [0.5 ** (12 - i)
                                                                       for i in range(12)]
    assert scale["head.weight"] == 1.0
    assert decay["embed.pos_embed"] == decay["embed.cls_token"] == decay["head.bias"] == 0.0
    assert decay["head.weight"] == 0.05


def test_grad_checkpointing_recomputes_blocks_with_same_gradients():
    torch.manual_seed(0)
    model = gl.build("glit-tiny", img_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    calls = []
    model.blocks[0].register_forward_pre_hook(lambda *_: calls.append(1))

    def grads():
        model.zero_grad()
        model(x).logsumexp(-1).sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    assert len(calls) == 1
    model.set_grad_checkpointing()
    checkpointed = grads()
    assert len(calls) == 3  # forward, then the recomputation in backward
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b)


def test_forward_intermediates_and_features_only():
    torch.manual_seed(0)
    model = gl.build("glit-tiny", img_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    seen = []
    for block in model.blocks:
        block.register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        final, inter = model.forward_intermediates(x, indices=[0, 11])
        torch.testing.assert_close(final, model.forward_features(x))
    assert [t.shape for t in inter] == [(2, 192, 4, 4)] * 2
    patch_tokens = seen[0][:, 1:].reshape(2, 4, 4, 192).permute(0, 3, 1, 2)
    torch.testing.assert_close(inter[0], patch_tokens)
    nlc = model.forward_intermediates(x, indices=2, output_fmt="NLC", intermediates_only=True,
                                      norm=True, return_prefix_tokens=True)
    assert len(nlc) == 2 and nlc[0][0].shape == (2, 16, 192) and nlc[0][1].shape == (2, 1, 192)
    assert model.head_hidden_size == 192
    assert model.forward_head(final, pre_logits=True).shape == (2, 192)
    feats = timm.create_model(NAME, features_only=True, out_indices=(3, 11), img_size=64)
    assert [f.shape for f in feats(x)] == [(2, 192, 4, 4)] * 2
    assert len(feats.model.blocks) == 12 and isinstance(feats.model.head, torch.nn.Identity)


def test_torch_jit_script():
    torch.manual_seed(0)
    model = gl.build("glit-tiny", img_size=32).eval()
    gl.use_fused_attention(model, False)  # per-instance switches script too
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


def _digits(size: int):
    """sklearn's 8x8 digits as 3-channel ``size`` px images, normalised as timm says."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
    return x, torch.tensor(data.target)


def test_timm_fine_tuning_workflow_on_digits(released):
    """Released weights -> 10 classes -> timm optimizer with layer decay -> evaluate."""
    torch.manual_seed(0)
    model = create(released[0], img_size=32)
    model.reset_classifier(10)
    cfg = resolve_data_config(model=model)  # the released normalisation
    x, y = _digits(32)
    mean, std = (torch.tensor(v)[:, None, None] for v in (cfg["mean"], cfg["std"]))
    x = (x - mean) / std
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = order[:1200], order[1200:1500]

    def accuracy():
        model.eval()
        with torch.no_grad():
            return (model(x[test]).argmax(-1) == y[test]).float().mean().item()

    before = accuracy()
    opt = create_optimizer_v2(model, "adamw", lr=5e-4, weight_decay=0.05, layer_decay=0.75)
    model.train()
    for step in range(30):
        idx = train[torch.randint(len(train), (32,), generator=torch.Generator().manual_seed(step))]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = accuracy()
    assert before < 0.3 and after > 0.6, (before, after)


# -- searched networks through timm: create_model(..., arch=...) --------------------

TINY32 = {"name": "tiny32", "img_size": 32, "patch_size": 8, "in_chans": 3, "num_classes": 3,
          "embed_dim": 24, "depth": 2, "num_heads": 3, "d_k": [4, 8], "d_z": [1, 2],
          "e": [1, 2], "k": [3, 5]}
TINY32_BLOCKS = [{"g": 1, "d_k": 8, "d_z": 2, "e": 1, "k": 3},
                 {"g": 0, "d_k": None, "d_z": 1, "e": 2, "k": 5}]


def _arch_json(folder, space, blocks, name="found"):
    """An arch.json as ``glit search`` writes it: name, space, blocks."""
    from glitlib.runtime.files import write_json

    path = folder / "arch.json"
    write_json(path, {"name": name, "space": space, "blocks": blocks})
    return path


def test_create_model_builds_a_searched_arch_json_in_its_space(tmp_path):
    path = _arch_json(tmp_path, TINY32, TINY32_BLOCKS)
    model = timm.create_model(NAME, arch=str(path))
    assert model.space == gl.get_space(TINY32)
    assert model.arch == gl.Arch.from_dict({"blocks": TINY32_BLOCKS})
    assert model.num_classes == 3 and model.embed.pos_embed.shape == (1, 17, 24)
    assert model.blocks[1].gl.attn is None and model.blocks[1].gl.conv.depthwise.kernel_size == (5,)
    cfg = resolve_data_config(model=model)
    assert cfg["input_size"] == (3, 32, 32) and cfg["crop_pct"] == 1.0
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    # the same network from a Path, a dict with its space, and a dict of a preset's name
    assert timm.create_model(NAME, arch=path).arch == model.arch
    again = timm.create_model(NAME, arch={"space": TINY32, "blocks": TINY32_BLOCKS})
    assert again.space == model.space and again.arch == model.arch
    # the user's sizes win, and the data config follows them
    other = timm.create_model(NAME, arch=str(path), num_classes=5, img_size=16)
    assert other.num_classes == 5 and other.embed.pos_embed.shape == (1, 5, 24)
    assert resolve_data_config(model=other)["input_size"] == (3, 16, 16)


def test_create_model_takes_an_arch_in_the_registered_space():
    space, glit_tiny = gl.get_arch("glit-tiny")
    deit = gl.get_arch("deit-tiny")[1]
    for arch in (deit, {"blocks": [b.to_dict() for b in deit.blocks]}):
        model = timm.create_model(NAME, arch=arch, img_size=32)
        assert model.arch == deit and model.space.embed_dim == 192 and model.num_classes == 1000
        assert resolve_data_config(model=model)["crop_pct"] == 224 / 256  # ImageNet's space
    assert timm.create_model(NAME, arch="deit-tiny", img_size=32).arch == deit
    assert timm.create_model(NAME, img_size=32).arch == glit_tiny


def test_digits_arch_gets_the_digits_data_config(tmp_path):
    from PIL import Image
    from timm.data import create_transform

    space = gl.get_space("digits")
    arch = gl.all_global(space)
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json(space))
    model = timm.create_model(NAME, arch=str(path)).eval()
    cfg = resolve_data_config(model=model)
    assert cfg["input_size"] == (1, 8, 8) and cfg["crop_pct"] == 1.0
    assert len(cfg["mean"]) == len(cfg["std"]) == 1
    assert model.num_classes == 10 and model.embed.patch_embed.proj.in_channels == 1
    x = create_transform(**cfg)(Image.new("L", (8, 8), color=128))
    assert x.shape == (1, 8, 8)
    with torch.no_grad():
        assert model(x[None]).shape == (1, 10)


@pytest.mark.parametrize("bad, message", [
    (123, r"arch=123: give an Arch, an architecture dict"),
    ("no/such/arch.json", r"neither a named architecture .* nor an existing JSON file"),
    ({"blocks": TINY32_BLOCKS}, r"^arch: architecture has 2 blocks but space 'tiny' has "
                                r"depth 12"),
    ({"blocks": TINY32_BLOCKS, "space": "cifar"}, r"^arch: architecture has 2 blocks"),
    ({"blocks": TINY32_BLOCKS, "space": 7}, r"space must be a preset name"),
    ({"blocks": [{"g": 1}]}, r"^arch: block 0: expected an object with keys"),
    ({"space": TINY32, "blocks": [{**TINY32_BLOCKS[0], "k": 7}, TINY32_BLOCKS[1]]},
     r"block 0: k=7 is not allowed; choose one of \[3, 5\]"),
])
def test_bad_arch_is_one_line(bad, message):
    with pytest.raises(gl.ArchitectureError, match=message) as err:
        timm.create_model(NAME, arch=bad)
    assert "\n" not in str(err.value)


def test_bad_arch_file_is_one_line(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text('{"space": "digits", "blocks": [')
    with pytest.raises(gl.ArchitectureError, match="architecture file .*malformed JSON"):
        timm.create_model(NAME, arch=str(path))
    _arch_json(tmp_path, TINY32, TINY32_BLOCKS[:1])
    with pytest.raises(gl.ArchitectureError, match=r"architecture file .*arch\.json: "
                                                   "architecture has 1 blocks"):
        timm.create_model(NAME, arch=str(path))


def test_features_only_on_a_shallow_arch(tmp_path):
    path = _arch_json(tmp_path, TINY32, TINY32_BLOCKS)
    feats = timm.create_model(NAME, arch=str(path), features_only=True)
    assert [f.shape for f in feats(torch.randn(1, 3, 32, 32))] == [(1, 24, 4, 4)] * 2


# -- FX: timm's and torchvision's feature extraction ---------------------------------

def _block_outputs(model, x):
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, out: seen.append(out)) for b in model.blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


TRACE_WARNING = "ignore:The nodes obtained by tracing the model in train mode"  # BatchNorm folding


@pytest.mark.filterwarnings(TRACE_WARNING)
def test_timm_fx_features_equal_the_eager_blocks():
    torch.manual_seed(0)
    feats = timm.create_model(NAME, features_only=True, feature_cls="fx", img_size=32,
                              out_indices=(1, 4, 11)).eval()
    torch.manual_seed(0)
    model = timm.create_model(NAME, img_size=32).eval()  # the same weights
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        got = feats(x)
    want = _block_outputs(model, x)
    assert len(got) == 3
    for g, i in zip(got, (1, 4, 11)):
        assert torch.equal(g, want[i])


@pytest.mark.filterwarnings(TRACE_WARNING)
@pytest.mark.parametrize("local, banded", [(kind, False) for kind in gl.LOCAL_KINDS]
                         + [("conv1d", True)])  # only GLiT's 1D local heads have a banded path
def test_torchvision_feature_extractor_equals_eager(local, banded):
    from torchvision.models.feature_extraction import create_feature_extractor

    space = gl.with_local(gl.get_space("digits"), local)
    rows = [(3, 16, 2, None, None), (0, None, 1, 2, 9), (1, 8, 4, 4, 5), (2, 32, 2, 1, 3)]
    arch = gl.Arch(tuple(gl.BlockArch(g, dk, dz, e if space.uses_e or e is None else None, k)
                         for g, dk, dz, e, k in rows))
    torch.manual_seed(0)
    model = gl.GLiT(space, arch)
    for m in model.modules():
        if isinstance(m, gl.LocalHeads):
            m.banded_max_tokens = 64 if banded else 0
            with torch.no_grad():
                m.norm.running_mean.uniform_(-0.5, 0.5)
                m.norm.running_var.uniform_(0.5, 2.0)
    nodes = {"blocks.0": "b0", "blocks.1": "b1", "blocks.3": "b3", "head": "logits"}
    extractor = create_feature_extractor(model, nodes)
    x = torch.randn(3, 1, 8, 8)
    for train in (False, True):
        model.train(train)
        extractor.train(train)
        with torch.no_grad():
            got = extractor(x)
            want = _block_outputs(model, x)
            logits = model(x)
        for name, i in (("b0", 0), ("b1", 1), ("b3", 3)):
            assert torch.equal(got[name], want[i]), (name, train)
        assert torch.equal(got["logits"], logits)


# -- timm's load_checkpoint on the released file -------------------------------------

def test_timm_load_checkpoint_reads_the_released_file(released):
    from timm.models import load_checkpoint

    path, source = released
    model = timm.create_model(NAME)
    assert not torch.equal(model.embed.pos_embed, source.embed.pos_embed)
    incompatible = load_checkpoint(model, str(path))  # strict: every key found and used
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    want = gl.load_official(path).state_dict()
    got = model.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(v, want[k]) for k, v in got.items())


def test_released_layout_loads_under_a_wrapper(released):
    """A GLiT held by another module (timm's EMA, DDP) still reads the released keys."""
    from timm.utils import ModelEmaV3

    path, source = released
    ema = ModelEmaV3(timm.create_model(NAME))
    sd = gl.official_state_dict(source)
    ema.load_state_dict({f"module.{k}": v for k, v in sd.items()})
    want = source.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in ema.module.state_dict().items())
    # timm's DeiT keys are another layout: not renamed, so a strict load refuses them
    deit = timm.create_model("deit_tiny_patch16_224").state_dict()
    with pytest.raises(RuntimeError, match="Missing key"):
        timm.create_model(NAME).load_state_dict(deit)


# -- timm's public API only ----------------------------------------------------------

def test_take_indices_follows_timm():
    from glitlib.model.glit import take_indices

    assert take_indices(12, None) == (list(range(12)), 11)
    assert take_indices(12, 3) == ([9, 10, 11], 11)
    assert take_indices(12, [0, -1, 4]) == ([0, 11, 4], 11)
    for bad in (0, 13, [12], [-13], []):
        with pytest.raises(ValueError, match="indices="):
            take_indices(12, bad)


def test_no_private_timm_imports():
    import re
    from pathlib import Path

    private = re.compile(r"timm\.[a-z_.]*\._")
    root = Path(gl.__file__).parent
    found = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if private.search(line)]
    assert not found, found
