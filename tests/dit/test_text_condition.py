"""DiT conditioned on captions: the text encoder, caption dropout, guidance's null caption, and
a run whose samples follow their captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tfusion.config import apply_overrides
from tfusion.data.text import ByteTokenizer, encode_captions
from tfusion.diffusion import drop_condition
from tfusion.dit.config import DiTRunConfig
from tfusion.dit.model import DiT, DiTShape
from tfusion.dit.sample import DiTRun
from tfusion.dit.train import train_dit
from tfusion.errors import ConfigError, DataError
from tfusion.nn.text import TextEmbedder

PAD = ByteTokenizer.PAD


def embedder() -> TextEmbedder:
    torch.manual_seed(0)
    return TextEmbedder(261, PAD, 24, width=16, depth=2, heads=2).eval()


def test_captions_are_padded_byte_ids_and_long_ones_are_refused():
    ids = encode_captions(["ab", "", "abc"], 4)
    assert ids.tolist() == [[97, 98, PAD, PAD], [PAD] * 4, [97, 98, 99, PAD]]
    with pytest.raises(DataError, match="max_caption"):
        encode_captions(["abcde"], 4)


def test_the_pooled_embedding_ignores_padding_and_reads_the_words():
    enc = embedder()
    short = torch.from_numpy(encode_captions(["a red circle", "a blue square"], 16))
    long = torch.from_numpy(encode_captions(["a red circle", "a blue square"], 40))
    with torch.no_grad():
        a, b = enc(short), enc(long)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)  # more padding: the same embedding
    assert (a[0] - a[1]).abs().max() > 1e-3  # different captions differ
    # word order matters (positions through RoPE): a bag of bytes would not see it
    swapped = torch.from_numpy(encode_captions(["circle red a", "a red circle"], 16))
    with torch.no_grad():
        c = enc(swapped)
    assert (c[0] - c[1]).abs().max() > 1e-4


def test_an_empty_caption_is_the_learned_null_vector():
    enc = embedder()
    tokens = torch.from_numpy(encode_captions(["", "a red circle", ""], 12))
    with torch.no_grad():
        out = enc(tokens)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], enc.null.detach())
    torch.testing.assert_close(out[2], enc.null.detach())
    assert (out[1] - enc.null).abs().max() > 1e-3


def test_caption_dropout_drops_whole_rows():
    rows = torch.arange(600).view(200, 3)
    out = drop_condition(rows, PAD, 0.5, torch.Generator().manual_seed(0))
    dropped = (out == PAD).all(1)
    kept = (out == rows).all(1)
    assert bool((dropped | kept).all())  # never part of a row
    assert 0.35 < dropped.float().mean() < 0.65


def test_a_text_dit_is_guided_toward_its_caption_against_the_null_caption():
    torch.manual_seed(0)
    model = DiT(
        DiTShape(
            image_size=8,
            channels=1,
            depth=1,
            width=16,
            heads=2,
            patch=4,
            condition="text",
            text_width=16,
            text_depth=1,
            text_heads=2,
        )
    )
    for p in model.parameters():  # off the zero init: the output depends on the caption
        torch.nn.init.normal_(p, std=0.1)
    model.eval()
    y = torch.from_numpy(encode_captions(["a red circle", "a blue square"], 16))
    x, t = torch.randn(2, 1, 8, 8), torch.rand(2)
    with torch.no_grad():
        cond = model(x, t, y)
        null = model(x, t, torch.full_like(y, PAD))
        guided = model.guided(y, 3.0)(x, t)
    assert model.null_label == PAD
    torch.testing.assert_close(guided, null + 3.0 * (cond - null), atol=1e-5, rtol=1e-5)
    assert (cond[0] - cond[1]).abs().max() > 1e-3


def captioned_folder(root: Path, n: int = 64) -> Path:
    """Dark images captioned "night", bright ones "day"."""
    root.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        day = i % 2 == 1
        level = 0.9 if day else 0.1
        pixels = np.clip(level + 0.05 * rng.standard_normal((8, 8)), 0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8), mode="L").save(root / f"{i}.png")
        lines.append(f"{i}.png\t{'day' if day else 'night'}")
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
    return root


def tiny_text_config(source: Path, steps: int = 300) -> DiTRunConfig:
    return apply_overrides(
        DiTRunConfig(),
        [
            f"data.source={source}",
            "data.image_size=8",
            "data.test_fraction=0.25",
            "model.condition=text",
            "model.preset=DiT-Mini/2",
            "model.heads=2",
            "model.width=32",
            "model.depth=2",
            "model.patch=4",
            "model.text_width=16",
            "model.text_heads=2",
            "model.text_depth=1",
            "model.max_caption=8",
            "diffusion.schedule=cosine",
            "diffusion.prediction=v",
            f"train.steps={steps}",
            "train.batch_size=16",
            "train.lr=2e-3",
            "train.warmup=10",
            "train.ema_decay=0.99",
            "train.progress=false",
            f"train.checkpoint_every={steps}",
            "sample.steps=10",
            "sample.guidance=1.0",
        ],
    )


def test_a_text_conditioned_run_draws_what_its_captions_say(tmp_path):
    run = tmp_path / "run"
    train_dit(tiny_text_config(captioned_folder(tmp_path / "data")), run)
    dit = DiTRun.load(run)
    assert dit.text and dit.classes == ()
    x = dit.generate(["night"] * 8 + ["day"] * 8, seed=0)
    assert x.shape == (16, 1, 8, 8)  # grey images keep one channel
    night, day = x[:8].mean(), x[8:].mean()
    assert night < -0.4 and day > 0.4, (night, day)
    with pytest.raises(ConfigError, match="captions"):
        dit.generate([0, 1])
    with pytest.raises(DataError, match="max_caption"):
        dit.generate(["a caption far too long"])


def test_a_text_run_holds_out_the_same_captions_as_the_transfusion_family():
    from tfusion.config import apply_overrides as over
    from tfusion.dit.train import image_split
    from tfusion.multimodal.config import MultimodalDataConfig, MultimodalRunConfig
    from tfusion.multimodal.train import captioned_images

    dit = over(
        DiTRunConfig(),
        ["data.source=shapes", "data.samples=300", "data.image_size=16", "model.condition=text"],
    )
    mm = MultimodalRunConfig(data=MultimodalDataConfig(samples=300, size=16, test_fraction=0.1))
    (a_train, a_test), (b_train, b_test) = image_split(dit), captioned_images(mm)
    assert list(a_test.captions) == b_test.captions and len(a_test) == 30
    np.testing.assert_array_equal(a_train.images, b_train.images)


def tiny_clip(folder: Path) -> Path:
    """A randomly initialised CLIP text model (2 layers of 32) and a character-level tokenizer,
    saved the way a user's local copy of a real one is."""
    import json

    transformers = pytest.importorskip("transformers")
    chars = [chr(c) for c in range(33, 127)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    tok.save_pretrained(folder)
    cfg = transformers.CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(0)
    transformers.CLIPTextModel(cfg).save_pretrained(folder)
    return folder


def test_a_clip_text_model_from_a_folder_conditions_the_run(tmp_path):
    from tfusion.text_encoders import ClipText

    clip = ClipText(tiny_clip(tmp_path / "clip"))
    pooled = clip.encode(["day", "", "night"])
    assert pooled.shape == (3, 32) and np.isnan(pooled[1]).all()
    assert np.isfinite(pooled[[0, 2]]).all() and np.abs(pooled[0] - pooled[2]).max() > 1e-3
    cfg = apply_overrides(
        tiny_text_config(captioned_folder(tmp_path / "data")),
        [f"model.text_encoder={tmp_path / 'clip'}"],
    )
    run = tmp_path / "run"
    train_dit(cfg, run)
    dit = DiTRun.load(run)
    names = set(dit.model.state_dict())
    assert "y_embedder.proj.weight" in names and not any("token_table" in n for n in names)
    x = dit.generate(["night"] * 8 + ["day"] * 8, seed=0)
    night, day = x[:8].mean(), x[8:].mean()
    assert night < -0.4 and day > 0.4, (night, day)
    with pytest.raises(ConfigError, match=r"config\.json"):
        ClipText(tmp_path / "data")


def test_cross_attention_starts_as_nothing_and_reads_the_caption_tokens(tmp_path):
    from tfusion.nn.text import CrossAttention

    torch.manual_seed(0)
    shape = DiTShape(
        image_size=8,
        channels=1,
        depth=2,
        width=16,
        heads=2,
        patch=4,
        condition="text",
        text_width=16,
        text_depth=1,
        text_heads=2,
        cross_attention=True,
    )
    model = DiT(shape).eval()
    y = torch.from_numpy(encode_captions(["a red circle", ""], 16))
    states, real = model.y_embedder.tokens_and_mask(y)
    h = torch.randn(2, 4, 16)
    for xattn in model.cross:
        assert isinstance(xattn, CrossAttention)
        assert torch.equal(xattn(h, states, real), torch.zeros_like(h))  # zero-initialised
    # off the zero init: the output depends on the tokens, and a dropped caption stays finite
    for p in model.cross.parameters():
        torch.nn.init.normal_(p, std=0.2)
    with torch.no_grad():
        out = model.cross[0](h, states, real)
        one_token = states.clone()
        one_token[0, 3] += 1.0  # a real token of the first caption
        padding = states.clone()
        padding[0, 14] += 1.0  # a padding position: masked out
        moved = model.cross[0](h, one_token, real)
        unmoved = model.cross[0](h, padding, real)
    assert torch.isfinite(out).all()  # the dropped caption reads the null token alone
    assert (moved[0] - out[0]).abs().max() > 1e-4  # each token is read, not only the pool
    torch.testing.assert_close(unmoved, out)
    with pytest.raises(ConfigError, match="cross_attention"):
        apply_overrides(DiTRunConfig(), ["model.cross_attention=true"])
    cfg = apply_overrides(
        tiny_text_config(captioned_folder(tmp_path / "data"), steps=200),
        ["model.cross_attention=true"],
    )
    train_dit(cfg, tmp_path / "run")
    dit = DiTRun.load(tmp_path / "run")
    assert dit.model.cross is not None
    x = dit.generate(["night"] * 8 + ["day"] * 8, seed=0)
    assert x[:8].mean() < -0.4 and x[8:].mean() > 0.4
