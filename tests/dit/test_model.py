"""DiT: sizes of every preset, the released checkpoints' state-dict layout, adaLN-Zero identity,
patch round trip, 2-D positions and classifier-free guidance over all channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfusion.dit.model import DIT_PRESETS, DiT, DiTShape, count_parameters, sincos_2d
from tfusion.nn import AdaLNZeroBlock

PAPER = [f"DiT-{s}/{p}" for s in ("S", "B", "L", "XL") for p in (2, 4, 8)]


def expected_parameters(depth: int, d: int, patch: int, c: int = 4, classes: int = 1000) -> int:
    """Parameter count written out layer by layer from the paper's architecture."""
    c_out = 2 * c  # released models learn sigma
    block = (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    block += 6 * d * d + 6 * d  # adaLN modulation
    embed = patch * patch * c * d + d  # patch conv
    embed += 256 * d + d + d * d + d  # timestep MLP
    embed += (classes + 1) * d  # labels + null row
    final = d * patch * patch * c_out + patch * patch * c_out + 2 * d * d + 2 * d
    return depth * block + embed + final


def build(name: str, device: str = "cpu", **kw) -> DiT:
    with torch.device(device):
        return DiT(DiTShape.preset(name, learn_sigma=True, **kw))


@pytest.mark.parametrize("name", PAPER)
def test_every_paper_preset_has_the_counted_parameters(name):
    model = build(name, device="meta")  # no memory for the 675 M weights of XL
    p = DIT_PRESETS[name]
    assert count_parameters(model) == expected_parameters(p["depth"], p["width"], p["patch"])


@pytest.mark.parametrize(
    ("name", "millions"),
    [("DiT-S/2", 33.0), ("DiT-B/2", 130.5), ("DiT-L/2", 458.0), ("DiT-XL/2", 675.0)],
)
def test_parameter_counts_match_the_paper(name, millions):
    # Peebles & Xie, Table 1 / the released models: S 33 M, B 130 M, L 458 M, XL 675 M
    assert count_parameters(build(name, device="meta")) / 1e6 == pytest.approx(millions, rel=0.01)


def released_layout(depth: int, d: int, patch: int, c: int, classes: int) -> dict[str, tuple]:
    """Names and shapes of the official DiT checkpoints (learn_sigma=True)."""
    n = (32 // patch) ** 2
    out = {
        "pos_embed": (1, n, d),
        "x_embedder.proj.weight": (d, c, patch, patch),
        "x_embedder.proj.bias": (d,),
        "t_embedder.mlp.0.weight": (d, 256),
        "t_embedder.mlp.0.bias": (d,),
        "t_embedder.mlp.2.weight": (d, d),
        "t_embedder.mlp.2.bias": (d,),
        "y_embedder.embedding_table.weight": (classes + 1, d),
        "final_layer.linear.weight": (patch * patch * 2 * c, d),
        "final_layer.linear.bias": (patch * patch * 2 * c,),
        "final_layer.adaLN_modulation.1.weight": (2 * d, d),
        "final_layer.adaLN_modulation.1.bias": (2 * d,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        out |= {
            b + "attn.qkv.weight": (3 * d, d),
            b + "attn.qkv.bias": (3 * d,),
            b + "attn.proj.weight": (d, d),
            b + "attn.proj.bias": (d,),
            b + "mlp.fc1.weight": (4 * d, d),
            b + "mlp.fc1.bias": (4 * d,),
            b + "mlp.fc2.weight": (d, 4 * d),
            b + "mlp.fc2.bias": (d,),
            b + "adaLN_modulation.1.weight": (6 * d, d),
            b + "adaLN_modulation.1.bias": (6 * d,),
        }
    return out


def test_state_dict_is_the_released_layout_and_loads_strictly():
    model = build("DiT-S/2")
    layout = released_layout(12, 384, 2, 4, 1000)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == layout  # same names (no norm weights: LayerNorms have no affine), same shapes
    # a "released" state dict (random values in the released layout) loads with strict=True
    gen = torch.Generator().manual_seed(0)
    released = {k: torch.randn(shape, generator=gen) for k, shape in layout.items()}
    model.load_state_dict(released, strict=True)
    for key in ("blocks.3.attn.qkv.weight", "pos_embed", "y_embedder.embedding_table.weight"):
        assert torch.equal(model.state_dict()[key], released[key])


def test_layer_norms_use_eps_1e6_without_affine():
    model = build("DiT-Mini/2", num_classes=10)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * 4 + 1
    assert all(m.eps == 1e-6 and m.weight is None for m in norms)


def test_fresh_block_is_the_identity_and_fresh_model_outputs_zero():
    torch.manual_seed(0)
    block = AdaLNZeroBlock(48, 3, 192)
    x, c = torch.randn(2, 16, 48), torch.randn(2, 48)
    assert torch.equal(block(x, c), x)
    model = DiT(DiTShape.preset("DiT-Mini/2", image_size=8, channels=3, num_classes=10))
    out = model(torch.randn(2, 3, 8, 8), torch.rand(2), torch.tensor([1, 10]))
    assert out.shape == (2, 3, 8, 8) and torch.count_nonzero(out) == 0


def test_trained_block_is_no_longer_the_identity():
    # the zero init must not freeze the block: one gradient step moves the gates off zero
    torch.manual_seed(0)
    block = AdaLNZeroBlock(48, 3, 192)
    x, c = torch.randn(2, 16, 48), torch.randn(2, 48)
    block(x, c).pow(2).sum().backward()
    assert block.adaLN_modulation[1].weight.grad.abs().sum() > 0


def test_unpatchify_inverts_the_patch_layout():
    shape = DiTShape(image_size=8, channels=3, num_classes=2, depth=1, width=16, heads=2, patch=4)
    model = DiT(shape)
    image = torch.randn(2, 3, 8, 8)
    # tokens in the patch conv's order (row-major over the 2x2 grid), each patch as (p, q, c)
    patches = image.unfold(2, 4, 4).unfold(3, 4, 4)  # (B, C, gh, gw, p, q)
    tokens = patches.permute(0, 2, 3, 4, 5, 1).reshape(2, 4, 4 * 4 * 3)
    assert torch.equal(model.unpatchify(tokens), image)


def test_2d_positions_encode_column_then_row():
    table = sincos_2d(16, 4)  # (16 tokens, 16 channels)
    assert table.shape == (16, 16)
    grid = table.reshape(4, 4, 16)  # (row, column, channel)
    # first half depends on the column only, second half on the row only
    np.testing.assert_allclose(grid[:, :, :8], np.broadcast_to(grid[:1, :, :8], (4, 4, 8)))
    np.testing.assert_allclose(grid[:, :, 8:], np.broadcast_to(grid[:, :1, 8:], (4, 4, 8)))
    # position 0 is [sin 0 = 0 | cos 0 = 1]; column 1 has sin(1 * 10000^0) = sin(1) first
    np.testing.assert_allclose(table[0], np.r_[np.zeros(4), np.ones(4), np.zeros(4), np.ones(4)])
    assert table[1, 0] == pytest.approx(np.sin(1.0))
    assert len({tuple(np.round(r, 6)) for r in table}) == 16  # every token distinct


def test_guidance_is_u_plus_scale_times_c_minus_u_on_every_channel():
    torch.manual_seed(0)
    shape = DiTShape.preset("DiT-Mini/2", image_size=8, channels=4, num_classes=5, learn_sigma=True)
    model = DiT(shape)
    for p in model.parameters():  # leave the zero init so the output depends on the label
        torch.nn.init.normal_(p, std=0.05)
    model.eval()
    x, t, y = torch.randn(3, 4, 8, 8), torch.rand(3), torch.tensor([0, 2, 4])
    with torch.no_grad():
        full = model(x, t, y)
        cond = full[:, :4]
        uncond = model(x, t, torch.full_like(y, 5))[:, :4]
        out = model.guided(y, 4.0)(x, t)
        plain = model.guided(y, 1.0)(x, t)
    assert out.shape == (3, 8, 8, 8)  # learn_sigma: the variance half follows
    guided = out[:, :4]
    torch.testing.assert_close(guided, uncond + 4.0 * (cond - uncond), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain, full)
    # the variance half is the conditional pass's, unguided (as the released code samples)
    torch.testing.assert_close(out[:, 4:], full[:, 4:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[:, 4:], model(x, t, torch.full_like(y, 5))[:, 4:], atol=1e-4)
    # the fourth channel is guided too (the released code left it unguided)
    assert not torch.allclose(guided[:, 3], cond[:, 3], atol=1e-4)


def test_first_time_step_embeds_integer_zero():
    model = DiT(DiTShape.preset("DiT-Mini/2", image_size=8, channels=1, num_classes=2))
    t = torch.tensor([1 / 1000])  # n = 0 in tfusion's time t = (n + 1) / T
    feats = torch.cat([torch.ones(1, 128), torch.zeros(1, 128)], dim=1)  # [cos 0 | sin 0]
    seen = {}

    def keep_input(module, inputs, output) -> None:
        seen["in"] = inputs[0]

    model.t_embedder.mlp[0].register_forward_hook(keep_input)
    model(torch.zeros(1, 1, 8, 8), t, torch.tensor([0]))
    torch.testing.assert_close(seen["in"], feats, atol=1e-5, rtol=0)


def test_image_size_must_divide_by_patch():
    with pytest.raises(ValueError, match="divisible"):
        DiT(DiTShape(image_size=10, patch=4, depth=1, width=16, heads=2))
