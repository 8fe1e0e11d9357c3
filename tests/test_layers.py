"""Each building block against a direct computation from its definition."""

import copy

import pytest
import torch
import torch.nn.functional as F
from timm.layers import Attention, Mlp
from timm.layers import PatchEmbed as TimmPatchEmbed

import glitlib as gl
from glitlib.model.layers import _depthwise_tokens, banded_depthwise

torch.manual_seed(0)


def test_patch_embed_is_flatten_then_linear():
    pe = gl.PatchEmbed(32, 8, 3, 20)
    x = torch.randn(2, 3, 32, 32)
    patches = x.unfold(2, 8, 8).unfold(3, 8, 8)  # (B, C, 4, 4, 8, 8)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(2, 16, 3 * 64)
    expected = patches @ pe.proj.weight.reshape(20, -1).T + pe.proj.bias
    torch.testing.assert_close(pe(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("heads, d_k", [(1, 64), (3, 32), (2, 128)])
def test_global_heads_fused_equals_explicit_equals_formula(heads, d_k):
    attn = gl.GlobalHeads(48, heads, d_k)
    x = torch.randn(2, 17, 48)
    fused = attn(x)
    attn.fused_attn = False
    torch.testing.assert_close(attn(x), fused, rtol=1e-5, atol=1e-5)
    q, k, v = attn.qkv(x).chunk(3, dim=-1)
    outs = []
    for h in range(heads):
        sl = slice(h * d_k, (h + 1) * d_k)
        a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / d_k**0.5, dim=-1)
        outs.append(a @ v[..., sl])
    torch.testing.assert_close(fused, attn.proj(torch.cat(outs, -1)), rtol=1e-5, atol=1e-5)


def test_global_heads_equal_timm_attention():
    ours, theirs = gl.GlobalHeads(192, 3, 64), Attention(192, num_heads=3, qkv_bias=True)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 197, 192)
    torch.testing.assert_close(ours(x), theirs(x))


def test_library_pieces_keep_the_released_keys():
    assert isinstance(gl.GlobalHeads(64, 1, 64), Attention)
    assert isinstance(gl.FFN(8, 2), Mlp) and gl.PatchEmbed is TimmPatchEmbed
    assert list(gl.GlobalHeads(96, 3, 32).state_dict()) == [
        "qkv.weight", "qkv.bias", "proj.weight", "proj.bias"]
    assert list(gl.FFN(8, 2).state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(gl.PatchEmbed(32, 8, 3, 20).state_dict()) == ["proj.weight", "proj.bias"]


def test_switches_are_per_instance():
    model = gl.build("deit-tiny", img_size=32)
    heads = [m for m in model.modules() if isinstance(m, gl.GlobalHeads)]
    heads[0].fused_attn = False  # one head only: the switch is not a class attribute
    assert [h.fused_attn for h in heads[:2]] == [False, True]
    assert gl.use_fused_attention(model, False) is model
    assert not any(h.fused_attn for h in heads)
    a, b = gl.LocalHeads(8, 1, 3), gl.LocalHeads(8, 1, 3)
    a.banded_max_tokens = 64
    assert b.banded_max_tokens == 0


@pytest.mark.parametrize("e, k", [(1, 3), (2, 17), (4, 45)])
def test_conv_head_steps(e, k):
    head = gl.LocalHeads(16, e, k).eval()
    with torch.no_grad():
        head.norm.running_mean.uniform_(-1, 1)
        head.norm.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 50, 16)
    h = head.pointwise1(x.transpose(1, 2))
    assert h.shape == (2, 2 * 16 * e, 50)
    h = h[:, : 16 * e] * torch.sigmoid(h[:, 16 * e :])
    h = F.conv1d(F.pad(h, (k // 2, k // 2)), head.depthwise.weight, head.depthwise.bias,
                 groups=16 * e)
    assert h.shape == (2, 16 * e, 50)  # "same" padding keeps the sequence length
    h = head.norm(h)
    h = h * torch.sigmoid(h)
    expected = head.pointwise2(h).transpose(1, 2)
    torch.testing.assert_close(head(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t, k", [(17, 3), (17, 9), (50, 17), (5, 45), (197, 31)])
def test_banded_depthwise_equals_depthwise_conv(t, k):
    x = torch.randn(3, 6, t, requires_grad=True)
    conv = torch.nn.Conv1d(6, 6, k, padding=k // 2, groups=6)
    expected = conv(x)
    got = banded_depthwise(x, conv.weight, conv.bias)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(expected)
    want = torch.autograd.grad(expected, (x, conv.weight, conv.bias), g)
    have = torch.autograd.grad(got, (x, conv.weight, conv.bias), g)
    for a, b in zip(have, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("t", [17, 64])
def test_conv_head_banded_and_conv_paths_agree(t):
    head = gl.LocalHeads(8, 2, 5, banded_max_tokens=64).eval()
    x = torch.randn(2, t, 8)
    banded = head(x)
    head.banded_max_tokens = 0
    torch.testing.assert_close(banded, head(x), rtol=1e-5, atol=1e-5)


def test_conv_head_is_local():
    head = gl.LocalHeads(8, 1, 5).eval()
    x = torch.randn(1, 40, 8, requires_grad=True)
    head(x)[0, 20].sum().backward()
    touched = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten().tolist()
    assert touched == list(range(18, 23))  # token 20 sees tokens 20 +- 2


@pytest.mark.parametrize("g", [0, 1, 2, 3])
def test_global_local_split_and_concat(g):
    gl_mod = gl.GlobalLocal(48, 3, g, 16, 2, 5).eval()
    x = torch.randn(2, 17, 48)
    out = gl_mod(x)
    assert out.shape == x.shape
    cg = 16 * g
    if g:
        torch.testing.assert_close(out[..., :cg], gl_mod.attn(x[..., :cg]))
    if g < 3:
        torch.testing.assert_close(out[..., cg:], gl_mod.conv(x[..., cg:]))
    assert (gl_mod.attn is None) == (g == 0) and (gl_mod.conv is None) == (g == 3)


def test_ffn_activation_choices_and_block_residuals():
    ffn = gl.FFN(8, 2, act="swish")
    x = torch.randn(3, 8)
    torch.testing.assert_close(ffn(x), ffn.fc2(F.silu(ffn.fc1(x))))
    ffn.act = torch.nn.GELU()
    assert not torch.allclose(ffn(x), ffn.fc2(F.silu(ffn.fc1(x))))
    with pytest.raises(ValueError, match="unknown FFN activation 'relu6'"):
        gl.FFN(8, 2, act="relu6")
    block = gl.Block(8, torch.nn.Identity(), gl.FFN(8, 2))
    x = torch.randn(2, 5, 8)
    h = x + block.norm1(x)
    torch.testing.assert_close(block(x), h + block.ffn(block.norm2(h)))


def _reference_local_heads(head: gl.LocalHeads, x: torch.Tensor) -> torch.Tensor:
    """The local heads as the released code runs them: Conv1d modules on (B, C, T)."""
    h = F.glu(head.pointwise1(x.transpose(1, 2)), dim=1)
    h = F.silu(head.norm(head.depthwise(h)))
    return head.pointwise2(h).transpose(1, 2)


def _randomised_local_heads(c: int, e: int, k: int) -> gl.LocalHeads:
    head = gl.LocalHeads(c, e, k)
    with torch.no_grad():
        head.norm.weight.uniform_(0.5, 1.5)
        head.norm.bias.uniform_(-0.5, 0.5)
        head.norm.running_mean.uniform_(-1, 1)
        head.norm.running_var.uniform_(0.5, 2)
    return head


@pytest.mark.parametrize("b, t, c, e, k", [
    (2, 17, 16, 2, 5), (3, 17, 8, 4, 17), (2, 197, 16, 1, 31), (2, 197, 12, 2, 45),
    (1, 50, 8, 1, 3),
])
@pytest.mark.parametrize("banded", [0, 64])
@pytest.mark.parametrize("train", [True, False])
def test_local_heads_equal_conv1d_reference_forward_and_backward(b, t, c, e, k, banded, train):
    torch.manual_seed(t + k)
    ours = _randomised_local_heads(c, e, k).train(train)
    ours.banded_max_tokens = banded
    ref = copy.deepcopy(ours)
    x = torch.randn(b, t, c, requires_grad=True)
    y, y_ref = ours(x), _reference_local_heads(ref, x)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    names = ["x"] + [n for n, _ in ours.named_parameters()]
    have = torch.autograd.grad(y, [x, *ours.parameters()], g)
    want = torch.autograd.grad(y_ref, [x, *ref.parameters()], g)
    for name, a, w in zip(names, have, want):
        if train and name == "depthwise.bias":
            # Batch statistics cancel a per-channel bias: both gradients are 0 up to rounding.
            assert a.abs().max() < 1e-4 and w.abs().max() < 1e-4
            continue
        torch.testing.assert_close(a, w, rtol=1e-5, atol=1e-5 * w.abs().max().item(), msg=name)
    for name, buf in ours.named_buffers():  # the same running statistics
        torch.testing.assert_close(buf, dict(ref.named_buffers())[name], rtol=1e-5, atol=1e-6)


def test_local_heads_keep_the_released_conv_shapes():
    head = gl.LocalHeads(16, 4, 31)
    shapes = {n: tuple(p.shape) for n, p in head.state_dict().items()}
    assert shapes == {
        "pointwise1.weight": (128, 16, 1), "pointwise1.bias": (128,),
        "depthwise.weight": (64, 1, 31), "depthwise.bias": (64,),
        "norm.weight": (64,), "norm.bias": (64,), "norm.running_mean": (64,),
        "norm.running_var": (64,), "norm.num_batches_tracked": (),
        "pointwise2.weight": (16, 64, 1), "pointwise2.bias": (16,),
    }


def test_local_heads_fold_batchnorm_only_with_running_statistics():
    head = _randomised_local_heads(8, 2, 5).eval()
    x = torch.randn(2, 40, 8)
    with torch.no_grad():
        folded = head(x)
        torch.testing.assert_close(folded, _reference_local_heads(head, x), rtol=1e-5, atol=1e-5)
        head.norm.track_running_stats = False  # eval mode, but batch statistics
        head.norm.running_mean = head.norm.running_var = None
        torch.testing.assert_close(head(x), _reference_local_heads(head, x), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(head(x), folded, atol=1e-3)


def test_local_heads_depthwise_weight_gradient_at_glit_tiny_width():
    """The backward pass's own weight-gradient convolution, at 8 images x 768 channels."""
    x = torch.randn(8, 197, 768, requires_grad=True)
    weight = torch.randn(768, 1, 45, requires_grad=True)
    bias = torch.randn(768, requires_grad=True)
    y = _depthwise_tokens(x, weight, bias)
    assert y.is_contiguous()  # channels-last output: the (B, T, C) view needs no copy
    expected = F.conv1d(x.transpose(1, 2), weight, bias, padding=22, groups=768).transpose(1, 2)
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-4)
    g = torch.randn_like(y)
    have = torch.autograd.grad(y, (x, weight, bias), g)
    want = torch.autograd.grad(expected, (x, weight, bias), g)
    for a, w in zip(have, want):
        torch.testing.assert_close(a, w, rtol=1e-5, atol=1e-5 * w.abs().max().item())


def test_local_heads_train_under_cpu_autocast():
    head = gl.LocalHeads(16, 2, 9)
    x = torch.randn(4, 30, 16, requires_grad=True)
    with torch.autocast("cpu", torch.bfloat16):
        y = head(x)
    y.float().square().mean().backward()
    want = torch.autograd.grad(_reference_local_heads(copy.deepcopy(head), x).square().mean(), x)
    assert y.dtype == torch.bfloat16 and x.grad.dtype == torch.float32
    torch.testing.assert_close(x.grad, want[0], rtol=0.05, atol=0.05 * want[0].abs().max().item())


def test_local_heads_reject_an_even_kernel():
    with pytest.raises(ValueError, match="odd kernel size for 'same' padding, got 4"):
        gl.LocalHeads(8, 1, 4)
