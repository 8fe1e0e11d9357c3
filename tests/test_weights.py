"""Loading the released checkpoint format and timm's DeiT weights."""

import argparse

import pytest
import timm
import torch
from reference_glit import RefGLiT, randomize_

import glitlib as gl
from glitlib.errors import WeightsError
from glitlib.model.weights import checkpoint_filter_fn

ROWS = [(b.g, b.d_k, b.d_z, b.e, b.k) for b in gl.get_arch("glit-tiny")[1].blocks]


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return randomize_(RefGLiT(ROWS)).eval()


class Unlisted:
    """A type no checkpoint may carry: weights_only loading must refuse it."""


def _save_official(path, state_dict):
    args = argparse.Namespace(model="glit_tiny_patch16_224", lr=5e-4, input_size=224)
    torch.save({"model": state_dict, "epoch": 299, "args": args}, path)


def test_load_official_file_matches_reference(reference, tmp_path):
    sd = reference.state_dict()
    assert "blocks.1.0.attn.net.1.weight" in sd and "blocks.4.0.attn.net.4.running_var" in sd
    assert sd["blocks.1.0.attn.net.1.weight"].shape == (2 * 192 * 2, 192, 1)
    path = tmp_path / "glit_tiny.pth"
    _save_official(path, sd)
    model = gl.load_official(path)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        diff = (model(x) - reference(x)).abs().max().item()
    assert diff < 1e-4


def test_round_trip_official_state_dict(reference):
    model = gl.load_official(reference.state_dict())
    back = gl.official_state_dict(model)
    assert back.keys() == reference.state_dict().keys()


def test_wrong_architecture_names_first_key_and_shapes(reference):
    rows = list(ROWS)
    rows[2] = (1, 64, 4, 4, 31)  # block 2 with d_z = 4 instead of 6
    other = RefGLiT(rows).state_dict()
    with pytest.raises(WeightsError, match=r"blocks\.2\.0\.mlp\.fc1\.weight.*\(768, 192\)"
                                           r".*expects \(1152, 192\)"):
        gl.load_official(other)
    partial = dict(reference.state_dict())
    del partial["head.bias"]
    with pytest.raises(WeightsError, match="missing key 'head.bias'"):
        gl.load_official(partial)


def test_checkpoint_is_loaded_with_weights_only(tmp_path, reference):
    path = tmp_path / "evil.pth"
    torch.save({"model": reference.state_dict(), "extra": Unlisted()}, path)
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        gl.load_official(path)
    truncated = tmp_path / "short.pth"
    _save_official(truncated, reference.state_dict())
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="cannot read checkpoint .*short.pth"):
        gl.load_official(truncated)
    with pytest.raises(WeightsError, match="does not exist"):
        gl.load_official(tmp_path / "nope.pth")


def test_from_deit_gives_identical_logits():
    torch.manual_seed(0)
    deit = timm.create_model("deit_tiny_patch16_224", pretrained=False).eval()
    model = gl.from_deit(deit.state_dict())
    assert model.arch.blocks == gl.get_arch("deit-tiny")[1].blocks
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), deit(x), rtol=0, atol=1e-5)
    with pytest.raises(WeightsError, match="not a timm ViT/DeiT"):
        gl.from_deit({"foo": torch.zeros(1)})


def test_timm_registration():
    assert "glit_tiny_patch16_224" in timm.list_models("glit*")
    model = timm.create_model("glit_tiny_patch16_224", num_classes=10)
    assert isinstance(model, gl.GLiT) and model.head.out_features == 10
    assert sum(p.numel() for p in model.parameters()) == 7_264_456 - 990 * 193
    with pytest.raises(ValueError, match="nothing is downloaded"):
        timm.create_model("glit_tiny_patch16_224", pretrained=True)


def test_timm_state_dict_given_to_load_official_points_to_from_deit():
    sd = timm.create_model("deit_tiny_patch16_224", pretrained=False).state_dict()
    with pytest.raises(WeightsError, match="from_deit"):
        gl.load_official(sd)


def test_timm_filter_takes_both_layouts(reference, tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("glit_tiny_patch16_224", num_classes=10).eval()
    from_released = checkpoint_filter_fn({"model": reference.state_dict()}, model)
    assert from_released.keys() == gl.load_official(reference.state_dict()).state_dict().keys()
    path = tmp_path / "finetuned.pth"
    torch.save(model.state_dict(), path)  # glitlib's own layout passes unchanged
    overlay = dict(file=str(path), num_classes=10)  # its head fits: timm keeps it
    again = timm.create_model("glit_tiny_patch16_224", num_classes=10, pretrained=True,
                              pretrained_cfg_overlay=overlay).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    with pytest.raises(WeightsError, match="unexpected key 'extra.weight'"):
        checkpoint_filter_fn({**model.state_dict(), "extra.weight": x}, model)


def test_load_state_dict_takes_the_released_layout(reference):
    from glitlib.model.keys import is_released_layout, released_to_glitlib

    sd = reference.state_dict()
    model = gl.build("glit-tiny")
    model.load_state_dict(sd)  # strict: the released keys are renamed before loading
    want = gl.load_official(sd).state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items())
    assert is_released_layout(sd) and not is_released_layout(model.state_dict())
    deit = timm.create_model("deit_tiny_patch16_224").state_dict()
    assert not is_released_layout(deit)
    keys = dict(sd)
    assert released_to_glitlib(keys, prefix="other.") is False and keys.keys() == sd.keys()
    nested = {f"ema.{k}": v for k, v in sd.items()}
    assert released_to_glitlib(nested, prefix="ema.") is True
    assert nested.keys() == {f"ema.{k}" for k in want}


def test_a_checkpoint_with_flipped_bytes_is_refused(tmp_path):
    """Bit rot in a checkpoint from elsewhere (no digest recorded): the zip's CRC-32 of
    each member is checked before torch reads the weights."""
    import torch

    from glitlib.errors import CheckpointError
    from glitlib.runtime.files import read_checkpoint, save_checkpoint

    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(4096, dtype=torch.float32)}})
    assert torch.equal(read_checkpoint(path)["model"]["w"], torch.arange(4096.0))
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 4] = bytes(b ^ 0xFF for b in raw[middle:middle + 4])
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted.*CRC-32"):
        read_checkpoint(path)
