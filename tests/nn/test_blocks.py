"""nn parts: adaLN-Zero identity at init, SDPA attention equals the written-out formula."""

import math

import pytest
import torch

from tfusion.nn import AdaLNFinal, AdaLNZeroBlock, SelfAttention, position_table, sinusoidal


def test_fresh_adaln_zero_block_is_identity():
    torch.manual_seed(0)
    block = AdaLNZeroBlock(32, 4, 64)
    x, c = torch.randn(3, 10, 32), torch.randn(3, 32)
    assert torch.equal(block(x, c), x)
    final = AdaLNFinal(32, 5)
    assert torch.count_nonzero(final(x, c)) == 0


def test_attention_matches_explicit_softmax():
    torch.manual_seed(0)
    attn = SelfAttention(16, 4).eval()
    x = torch.randn(2, 7, 16)
    q, k, v = attn.qkv(x).view(2, 7, 3, 4, 4).permute(2, 0, 3, 1, 4)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), dim=-1)
    ref = attn.proj((w @ v).transpose(1, 2).reshape(2, 7, 16))
    assert torch.allclose(attn(x), ref, atol=1e-5)
    mask = torch.ones(7, 7, dtype=torch.bool).tril()
    wm = torch.softmax((q @ k.transpose(-1, -2) / 2).masked_fill(~mask, float("-inf")), -1)
    refm = attn.proj((wm @ v).transpose(1, 2).reshape(2, 7, 16))
    assert torch.allclose(attn(x, mask), refm, atol=1e-5)


def test_position_table_is_the_transformer_formula():
    pe = position_table(50, 8)
    pos, i = 17, 2  # column 2i = sin, 2i + 1 = cos of pos / 10000^(2i/d)
    angle = pos / 10000 ** (2 * i / 8)
    assert torch.isclose(pe[pos, 2 * i], torch.tensor(math.sin(angle)), atol=1e-6)
    assert torch.isclose(pe[pos, 2 * i + 1], torch.tensor(math.cos(angle)), atol=1e-6)


@pytest.mark.parametrize("dim", [1, 3, 5])
def test_an_odd_position_table_is_the_published_one(dim):
    # TransFusion's scoring code: the table of d + 1 (its div_term over d + 1), first d columns
    d = dim + 1
    pe = position_table(30, dim)
    assert pe.shape == (30, dim)
    for pos in (0, 7, 29):
        for col in range(dim):
            angle = pos * math.exp((col - col % 2) * (-math.log(10000.0) / d))
            want = math.sin(angle) if col % 2 == 0 else math.cos(angle)
            assert abs(float(pe[pos, col]) - want) < 1e-5, (dim, pos, col)


def test_dit_layout_is_cos_then_sin():
    e = sinusoidal(torch.tensor([3.0]), 6)
    freqs = [10000 ** (-k / 3) for k in range(3)]
    expected = [math.cos(3 * f) for f in freqs] + [math.sin(3 * f) for f in freqs]
    assert torch.allclose(e[0], torch.tensor(expected), atol=1e-6)


def test_training_attention_under_bf16_autocast_runs_in_fp32_and_keeps_the_dtype():
    from tfusion.nn.attention import attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 24, 32, dtype=torch.bfloat16, requires_grad=True) for _ in "qkv")
    mask = torch.rand(2, 1, 24, 24) > 0.3
    mask[..., 0] = True  # every query may see at least one key
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(q, k, v, mask)
    assert out.dtype == torch.bfloat16
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float(), v.float(), attn_mask=mask
    )
    # fp32 math on bf16 inputs: only the final rounding to bf16 differs from the fp32 reference
    assert (out.float() - ref).abs().max() <= 2**-7 * ref.abs().max()
    out.float().square().sum().backward()
    assert q.grad is not None and q.grad.dtype == torch.bfloat16 and q.grad.abs().sum() > 0
    # inference: short sequences stay exact to bf16 rounding (fp32 kernel); long ones use the
    # bf16 kernel, whose error is larger but still small
    long = [torch.randn(1, 2, 300, 32, dtype=torch.bfloat16) for _ in "qkv"]
    ref_long = torch.nn.functional.scaled_dot_product_attention(*(t.float() for t in long))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        short = attention(q, k, v, mask)
        fast = attention(*long)
    assert short.dtype == fast.dtype == torch.bfloat16
    assert (short.float() - ref).abs().max() <= 2**-7 * ref.abs().max()
    assert (fast.float() - ref_long).abs().max() < 0.05
