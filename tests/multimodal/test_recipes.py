"""Transfusion's recipe switches: clean images fed back, the captioning noise cap, text-only
data with held-out perplexity, causal attention inside images, the time embedding before the
patch map."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tfusion.config import TrainConfig
from tfusion.diffusion import Schedule
from tfusion.errors import ConfigError
from tfusion.multimodal.config import (
    MultimodalDataConfig,
    MultimodalModelConfig,
    MultimodalRunConfig,
)
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.loss import transfusion_loss
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer, attention_mask
from tfusion.multimodal.sequences import layout, pack
from tfusion.multimodal.tokenizer import ByteTokenizer
from tfusion.multimodal.train import text_split, train_multimodal

TOK = ByteTokenizer()
P = 12  # 2 x 2 x 3 patch values


def model(**kw) -> MultimodalTransformer:
    torch.manual_seed(0)
    shape = MultimodalShape(vocab=261, patch_dim=P, width=16, depth=1, heads=2, hidden=32, **kw)
    return MultimodalTransformer(shape)


def batch(rows: int = 6, caption_first: bool = True):
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(rows):
        img = rng.normal(size=(4, P)).astype(np.float32)
        segs = [TOK.encode("ab"), img] if caption_first else [img, TOK.encode("ab")]
        seqs.append(layout(segs, TOK))
    return pack(seqs, P, TOK.PAD)


class Spy(torch.nn.Module):
    """Wraps a model and keeps what it was given."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, {}

    def forward(self, tokens, x_t, image, t, mask, positions):
        self.seen = {"x_t": x_t, "image": image, "t": t, "mask": mask}
        return self.inner(tokens, x_t, image, t, mask, positions)


def test_causal_image_attention_removes_only_the_future_patches_of_the_same_image():
    b = batch(1)
    full, causal = attention_mask(b.image, b.valid), attention_mask(b.image, b.valid, False)
    idx = torch.arange(b.image.shape[1])
    future = idx[None, :] > idx[:, None]
    same = (b.image[0][:, None] == b.image[0][None]) & (b.image[0][:, None] >= 0)
    assert bool((full[0, 0] & future & same).any())  # bidirectional: patches see later ones
    assert not bool((causal[0, 0] & future).any())  # causal everywhere
    assert torch.equal(full[0, 0] & ~(future & same), causal[0, 0])
    m = model(image_attention="causal")
    assert torch.equal(m.mask(b.image, b.valid), causal)


def test_the_time_embedding_before_the_patch_map_is_added_to_the_patch_values():
    m = model(time_embedding="before")
    assert m.t_embedder.mlp[-1].out_features == P  # an embedding per patch value
    patches, t = torch.randn(1, 3, P), torch.tensor([[0.3, 0.3, 0.3]])
    image = torch.zeros(1, 3, dtype=torch.long)
    h, _ = m.embed(torch.zeros(1, 3, dtype=torch.long), patches, image, t)
    want = m.patch_in(patches + m.t_embedder(t.reshape(-1)).view(1, 3, P))
    torch.testing.assert_close(h, want)
    after = model()
    assert after.t_embedder.mlp[-1].out_features == 16


def test_the_caption_cap_keeps_image_noise_in_the_first_part_of_the_schedule():
    schedule = Schedule.create("cosine", 1000)
    spy = Spy(model())
    b = batch(64, caption_first=False)
    times = []
    for seed in range(4):
        transfusion_loss(
            spy, b, schedule, torch.Generator().manual_seed(seed), t_cap=torch.full((64,), 0.5)
        )
        times.append(spy.seen["t"][spy.seen["image"] >= 0])
    t = torch.cat(times)
    assert float(t.max()) <= 0.5 and float(t.min()) >= 1 / 1000
    assert float(t.max()) > 0.45 and float(t.min()) < 0.05  # the whole first half is drawn
    transfusion_loss(spy, b, schedule, torch.Generator().manual_seed(0))
    assert float(spy.seen["t"][spy.seen["image"] >= 0].max()) > 0.5  # uncapped: the rest too


@pytest.mark.parametrize("cap", [0.5, 0.3, 0.25, 0.7])
def test_the_caption_cap_maps_every_grid_step_k_to_ceil_k_times_cap(cap):
    # exact on the integers: float32 arithmetic had sent some steps one too high (39 of 1000
    # at cap 0.3), so the capped times were not the grid's first cap x T steps, evenly
    from fractions import Fraction
    from math import ceil

    from tfusion.multimodal.loss import capped_times

    steps = 1000
    k = torch.arange(1, steps + 1)
    got = capped_times(
        (k.float() / steps).view(1, -1), torch.tensor([[cap]], dtype=torch.float64), steps
    )
    exact = Fraction(str(cap))
    want = torch.tensor([max(1, ceil(int(j) * exact)) for j in k]) / steps
    assert torch.equal(got.view(-1), want.float())
    # so each capped step is hit by 1 / cap grid steps (uniform over the first cap x T steps)
    counts = torch.bincount(torch.round(got.view(-1) * steps).long())[1:]
    assert len(counts) == round(cap * steps) and int(counts.max() - counts.min()) <= 1


def test_clean_images_are_fed_at_t_0_and_left_out_of_the_diffusion_loss():
    schedule = Schedule.create("cosine", 1000)
    spy = Spy(model())
    b = batch(6)
    clean = torch.tensor([True, False, True, False, False, False])
    _, parts = transfusion_loss(spy, b, schedule, torch.Generator().manual_seed(0), clean=clean)
    is_patch = spy.seen["image"] >= 0
    t, x_t = spy.seen["t"], spy.seen["x_t"]
    assert bool((t[clean][is_patch[clean]] == 0).all())
    assert bool((t[~clean][is_patch[~clean]] > 0).all())
    torch.testing.assert_close(x_t[clean], b.patches[clean])  # no noise added
    assert not torch.allclose(x_t[~clean], b.patches[~clean])
    # with every image clean there is nothing left for the diffusion term to score
    _, all_noisy = transfusion_loss(model(), b, schedule, torch.Generator().manual_seed(0))
    _, none = transfusion_loss(
        model(), b, schedule, torch.Generator().manual_seed(0), clean=torch.ones(6, dtype=bool)
    )
    assert torch.isnan(none["diffusion"])  # no image left to score
    assert torch.isfinite(parts["diffusion"]) and torch.isfinite(all_noisy["diffusion"])


def test_text_split_cuts_at_a_line_and_refuses_bad_files(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("".join(f"line {i} of the text\n" for i in range(50)))
    train, held = text_split(str(f))
    assert train + held == f.read_bytes() and train.endswith(b"\n")
    assert 0.05 < len(held) / len(f.read_bytes()) < 0.15
    (tmp_path / "bin").write_bytes(b"\xff\xfe" * 100)
    with pytest.raises(ConfigError, match="UTF-8"):
        text_split(str(tmp_path / "bin"))
    with pytest.raises(ConfigError, match="not found"):
        text_split(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match=r"data\.text"):
        MultimodalDataConfig(text_ratio=0.3)


def tiny(tmp_path, steps: int, tokenizer: str = "bytes", **data) -> MultimodalRunConfig:
    return MultimodalRunConfig(
        data=MultimodalDataConfig(samples=200, size=16, **data),
        model=MultimodalModelConfig(width=32, depth=2, heads=2, patch=4, tokenizer=tokenizer),
        train=TrainConfig(
            steps=steps,
            batch_size=8,
            lr=3e-3,
            warmup=5,
            progress=False,
            log_every=10,
            checkpoint_every=steps,
            betas=(0.9, 0.95),
            weight_decay=0.1,
        ),
    )


@pytest.mark.parametrize("tokenizer", ["bytes", "bpe"])
def test_text_only_data_trains_the_language_model_on_it(tmp_path, tokenizer):
    """A model trained with data.text (half the sequences) reads held-out text of the same
    kind with a lower perplexity (per byte, whatever the tokenizer) than the same model
    trained on captions alone."""
    f = tmp_path / "t.txt"
    f.write_text("the cat sat on the mat. " * 60 + "\n" + "the cat sat on the mat. " * 10 + "\n")
    with_text, without = tmp_path / "with", tmp_path / "without"
    cfg = tiny(tmp_path, 150, tokenizer, text=str(f), text_ratio=0.5, text_bytes=48)
    train_multimodal(cfg, with_text)
    train_multimodal(tiny(tmp_path, 150, tokenizer), without)
    held = text_split(str(f))[1]
    a = load_multimodal(with_text).text_perplexity(held, 48)
    b = load_multimodal(without).text_perplexity(held, 48)
    assert a < 0.5 * b, (a, b)


def test_the_image_sampler_noise_is_a_setting(tmp_path):
    """eta 0 (ODE) and 1 (SDE) draw different images from the same start noise; each is
    reproducible by its seed; sample.eta is a checked config value."""
    run = tmp_path / "run"
    train_multimodal(tiny(tmp_path, 5), run)
    gen = load_multimodal(run)
    cap = ["a red circle on the left"]
    ode = gen.text_to_image(cap, 2.0, "dpm++", 6, seed=3, eta=0.0)
    sde = gen.text_to_image(cap, 2.0, "dpm++", 6, seed=3, eta=1.0)
    again = gen.text_to_image(cap, 2.0, "dpm++", 6, seed=3, eta=1.0)
    np.testing.assert_array_equal(sde, again)
    assert np.abs(ode - sde).max() > 1e-3
    from tfusion.multimodal.config import MultimodalSampleConfig

    with pytest.raises(ConfigError, match="eta"):
        MultimodalSampleConfig(eta=-1.0)


def test_patch_index_counts_within_each_image_and_restarts_at_the_next():
    from tfusion.multimodal.model import patch_index

    # text, image 0 (3 patches), text, image 1 right after image 2 (no text between), padding
    image = torch.tensor(
        [[-1, 0, 0, 0, -1, 1, 1, 2, 2, 2, -1], [3, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1]]
    )
    want = torch.tensor([[0, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert torch.equal(patch_index(image), want)


def test_sincos_patch_positions_add_the_2d_table_row_of_each_patch_and_nothing_at_text():
    from tfusion.nn.embeddings import sincos_2d

    kw = {"image_size": 4, "patch": 2}  # a 2 x 2 grid: 4 patches per image
    rope, pos = model(**kw), model(patch_positions="sincos", **kw)
    pos.load_state_dict(rope.state_dict())  # same weights; the table is not a parameter
    assert "pos2d" not in pos.state_dict()  # checkpoints keep their keys
    b = batch(2)
    t = torch.full(b.image.shape, 0.4)
    h_rope, _ = rope.embed(b.tokens, b.patches, b.image, t)
    h_pos, _ = pos.embed(b.tokens, b.patches, b.image, t)
    is_patch = b.image >= 0
    table = torch.from_numpy(sincos_2d(16, 2)).float()
    diff = h_pos - h_rope
    torch.testing.assert_close(diff[~is_patch], torch.zeros_like(diff[~is_patch]))
    for row in range(2):
        got = diff[row][is_patch[row]]
        torch.testing.assert_close(got, table, atol=1e-6, rtol=1e-6)  # patches 0..3 in order
    # two patch contents swapped: the sincos model's inputs see where each one now sits
    swapped = b.patches.clone()
    first = int(is_patch[0].nonzero()[0])
    swapped[0, [first, first + 3]] = swapped[0, [first + 3, first]]
    h2, _ = pos.embed(b.tokens, swapped, b.image, t)
    assert not torch.allclose(h2[0, first], h_pos[0, first + 3])
    with pytest.raises(ValueError, match="patch_positions"):
        model(patch_positions="learned")
    with pytest.raises(ConfigError, match="patch_positions"):
        MultimodalModelConfig(patch_positions="2d")
    with pytest.raises(ConfigError, match="divisible by 4"):
        MultimodalModelConfig(patch_positions="sincos", width=18, heads=3)


def test_sincos_decoding_cached_equals_uncached():
    from tfusion.multimodal.decode import ImageSpec, MultimodalGenerator

    m = model(patch_positions="sincos", image_size=4, patch=2)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.1)
    gen = MultimodalGenerator(m.eval(), ImageSpec(3, 4, 2), Schedule.create("cosine", 1000), "v")
    a = gen.text_to_image(["ab", "abc"], 2.0, "dpm++", 3, use_cache=True)
    b = gen.text_to_image(["ab", "abc"], 2.0, "dpm++", 3, use_cache=False)
    assert np.abs(a - b).max() < 2e-4
    # the table changes what is drawn (the same weights without it draw something else)
    m.pos2d = None
    c = gen.text_to_image(["ab", "abc"], 2.0, "dpm++", 3, use_cache=True)
    assert np.abs(a - c).max() > 1e-3


def test_a_bpe_run_learns_its_merges_saves_them_and_reads_them_back(tmp_path):
    """model.tokenizer=bpe: the merges come from the training captions (a shapes caption is
    a handful of tokens), the model's vocabulary is the tokenizer's, the run keeps
    tokenizer.json, resuming and loading read it, and a run without it is refused in one line."""
    from tfusion.errors import CheckpointError
    from tfusion.multimodal.tokenizer import run_tokenizer

    run = tmp_path / "run"
    train_multimodal(tiny(tmp_path, 4, "bpe"), run)
    tok = run_tokenizer(run, "bpe")
    assert 261 < tok.vocab_size <= 1024
    ids = tok.encode("a red circle on the left")
    assert len(ids) <= 8 and tok.decode(ids) == "a red circle on the left"
    gen = load_multimodal(run)
    assert gen.model.tok_embeddings.num_embeddings == tok.vocab_size
    assert gen.tok.merges == tok.merges
    words = gen.caption(np.zeros((2, 3, 16, 16), np.float32), max_tokens=6)
    assert all(isinstance(w, str) for w in words)
    assert np.isfinite(gen.caption_perplexity(np.zeros((1, 3, 16, 16)), ["a red circle"]))
    train_multimodal(tiny(tmp_path, 8, "bpe"), run, resume=True)
    assert run_tokenizer(run, "bpe").merges == tok.merges
    saved = json.loads((run / "tokenizer.json").read_text())
    # merges lost (a cut or swapped file that still parses): named as the tokenizer's fault,
    # not reported as "weights do not fit" as it had been
    cut = {**saved, "merges": saved["merges"][: len(saved["merges"]) // 2]}
    (run / "tokenizer.json").write_text(json.dumps(cut))
    with pytest.raises(CheckpointError, match=r"tokenizer\.json has \d+ tokens but this run was"):
        load_multimodal(run)
    (run / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"tokenizer\.json is not valid JSON"):
        load_multimodal(run)
    with pytest.raises(ConfigError, match="tokenizer"):
        MultimodalModelConfig(tokenizer="wordpiece")
    with pytest.raises(ConfigError, match="vocab"):
        MultimodalModelConfig(vocab=100)


def test_text_windows_end_with_eos_only_where_the_text_ends(tmp_path, monkeypatch):
    """A data.text window cut mid-file had been closed with EOS, teaching the model to stop
    writing after about one window; now only a window that reaches the end of the file (which
    the window starts can now reach) ends with EOS."""
    from dataclasses import replace

    from tfusion.multimodal import train as train_module

    f = tmp_path / "t.txt"
    f.write_text("".join(f"line {i} of a long plain text file.\n" for i in range(40)))
    text_ids = list(train_module.text_split(str(f))[0])
    real_loss = train_module.transfusion_loss
    tok = ByteTokenizer()

    def text_rows(text_bytes: int) -> list[list[int]]:
        seen = []

        def spy(m, batch, *args, **kwargs):
            for r in range(batch.tokens.shape[0]):
                if not (batch.image[r] >= 0).any():  # a text-only sequence
                    seen.append(batch.tokens[r][batch.valid[r]].tolist())
            return real_loss(m, batch, *args, **kwargs)

        monkeypatch.setattr(train_module, "transfusion_loss", spy)
        cfg = tiny(tmp_path, 3)
        data = replace(cfg.data, text=str(f), text_ratio=1.0, text_bytes=text_bytes)
        train_multimodal(replace(cfg, data=data), tmp_path / f"run{text_bytes}")
        assert len(seen) == 3 * 8
        return seen

    # windows of the whole training text: every one reaches the end, and ends with EOS
    for ids in text_rows(len(text_ids)):
        assert ids[0] == tok.BOS and ids[1:-1] == text_ids and ids[-1] == tok.EOS
    # short windows start anywhere: mid-text windows end without EOS (all had ended with it)
    rows = text_rows(64)
    assert all(len(ids) == 1 + 64 for ids in rows)
    assert not any(tok.EOS in ids for ids in rows)
