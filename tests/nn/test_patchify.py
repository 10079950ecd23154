"""patchify / unpatchify: the one image <-> patch-token layout, on numpy arrays and tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfusion.dit.model import DiT, DiTShape
from tfusion.errors import DataError
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer
from tfusion.nn.patchify import patchify, unpatchify


def reference_patchify(images: np.ndarray, p: int) -> np.ndarray:
    """Written out with loops: token k = (grid row, grid column) in raster order, values in
    (pixel row, pixel column, channel) order within the patch."""
    b, c, h, w = images.shape
    out = np.zeros((b, (h // p) * (w // p), p * p * c), dtype=images.dtype)
    for n in range(b):
        for gh in range(h // p):
            for gw in range(w // p):
                k = gh * (w // p) + gw
                v = 0
                for i in range(p):
                    for j in range(p):
                        for ch in range(c):
                            out[n, k, v] = images[n, ch, gh * p + i, gw * p + j]
                            v += 1
    return out


def test_numpy_matches_the_hand_written_layout():
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)  # 2 x 3 patches of 2
    tokens = patchify(x, 2)
    assert tokens.shape == (2, 6, 12) and tokens.flags.c_contiguous
    np.testing.assert_array_equal(tokens, reference_patchify(x, 2))
    # first token of image 0: pixels (0,0) (0,1) (1,0) (1,1), each as its 3 channels
    np.testing.assert_array_equal(tokens[0, 0, :3], x[0, :, 0, 0])
    np.testing.assert_array_equal(tokens[0, 0, 3:6], x[0, :, 0, 1])
    np.testing.assert_array_equal(tokens[0, 0, 6:9], x[0, :, 1, 0])


def test_torch_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 2, 8, 12)).astype(np.float32)
    tokens = patchify(torch.from_numpy(x), 4)
    assert isinstance(tokens, torch.Tensor)
    np.testing.assert_array_equal(tokens.numpy(), reference_patchify(x, 4))
    back = unpatchify(tokens, 4, 8, 12)
    assert isinstance(back, torch.Tensor) and torch.equal(back, torch.from_numpy(x))


@pytest.mark.parametrize("shape,p", [((3, 1, 8, 8), 2), ((1, 4, 6, 9), 3), ((2, 3, 5, 5), 5)])
def test_round_trip(shape, p):
    x = np.random.default_rng(1).normal(size=shape)
    tokens = patchify(x, p)
    assert tokens.shape == (shape[0], (shape[2] // p) * (shape[3] // p), p * p * shape[1])
    back = unpatchify(tokens, p, shape[2], shape[3])
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, x)
    # and the other way round: tokens -> image -> tokens
    np.testing.assert_array_equal(patchify(back, p), tokens)


def test_sizes_that_do_not_split_are_a_data_error():
    with pytest.raises(DataError, match=r"images of 6 x 8 do not split into 4 x 4 patches"):
        patchify(np.zeros((1, 3, 6, 8)), 4)
    with pytest.raises(DataError, match="do not split"):
        unpatchify(np.zeros((1, 4, 12)), 2, 4, 5)


def test_dit_unpatchify_is_the_shared_layout():
    shape = DiTShape(image_size=8, channels=2, num_classes=2, depth=1, width=16, heads=2, patch=4)
    model = DiT(shape)
    image = torch.randn(3, 2, 8, 8)
    tokens = torch.from_numpy(reference_patchify(image.numpy(), 4))
    assert torch.equal(model.unpatchify(tokens), image)


def test_multimodal_unet_coder_reads_and_writes_the_shared_layout():
    # The U-Net encoder gets the images the patches came from, and the decoder's image comes
    # back as patches in the same layout: checked against the coder run on the image directly.
    torch.manual_seed(0)
    shape = MultimodalShape(
        vocab=10,
        patch_dim=2 * 2 * 3,
        width=16,
        depth=1,
        heads=2,
        hidden=32,
        encoder="unet",
        channels=3,
        image_size=4,
        patch=2,
    )
    model = MultimodalTransformer(shape)
    for w in model.parameters():  # off the zero init, so the decoder's output is not all 0
        torch.nn.init.normal_(w, std=0.1)
    image = torch.randn(1, 3, 4, 4)
    patches = torch.from_numpy(reference_patchify(image.numpy(), 2))  # (1, 4, 12)
    image_ids = torch.zeros(1, 4, dtype=torch.long)
    t = torch.full((1, 4), 0.5)
    h, ctx = model.embed(torch.zeros(1, 4, dtype=torch.long), patches, image_ids, t)
    temb = model.t_embedder(torch.tensor([0.5]))
    tokens, skips = model.unet.encode(image, temb)
    assert torch.equal(h, tokens.to(h.dtype))
    out = model.patch_head(h, ctx)
    decoded = model.unet.decode(h.view(1, 4, -1), skips, temb)
    assert decoded.abs().sum() > 0
    assert torch.equal(out, torch.from_numpy(reference_patchify(decoded.detach().numpy(), 2)))
