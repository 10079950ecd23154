"""The Transfusion report scores what it claims: a perfect generator gets 1.0, a blank one 0."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfusion.config import TrainConfig
from tfusion.errors import ConfigError
from tfusion.multimodal import evaluate as multimodal_report
from tfusion.multimodal.config import (
    MultimodalDataConfig,
    MultimodalModelConfig,
    MultimodalRunConfig,
    MultimodalSampleConfig,
)
from tfusion.multimodal.train import captioned_images, train_multimodal


def config(source: str = "shapes") -> MultimodalRunConfig:
    return MultimodalRunConfig(
        data=MultimodalDataConfig(source=source, samples=300, size=16),
        model=MultimodalModelConfig(width=32, depth=1, heads=2, patch=4),
        train=TrainConfig(steps=2, batch_size=4, warmup=1, progress=False, checkpoint_every=2),
        sample=MultimodalSampleConfig(steps=2, sampler="dpm++", max_tokens=40),
    )


class Oracle:
    """Draws each prompt's true held-out image and writes each image's true caption."""

    def __init__(self, images, captions, blank: bool = False):
        self.truth = dict(zip(captions, images, strict=True))
        self.by_image = {im.tobytes(): c for im, c in zip(images, captions, strict=True)}
        self.blank = blank

    def text_to_image(self, captions, guidance, sampler, steps, seed, eta=0.0):
        out = np.stack([self.truth[c] for c in captions])
        return np.full_like(out, -1.0) if self.blank else out

    def caption(self, images, max_tokens, temperature=0.0, top_k=None, top_p=None, seed=0):
        self.text_settings = (max_tokens, temperature, top_k, top_p)  # what the report asked for
        return ["a" if self.blank else self.by_image[im.tobytes()] for im in images]

    def caption_perplexity(self, images, captions):
        return 1.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("mm") / "run"
    train_multimodal(config(), path)
    return path


@pytest.mark.parametrize("blank", [False, True])
def test_scores_of_a_perfect_and_of_a_blank_generator(run, tmp_path, monkeypatch, blank):
    _, test = captioned_images(config())
    test = test.subset(np.arange(24))
    oracle = Oracle(test.images, test.captions, blank)
    monkeypatch.setattr(multimodal_report, "load_multimodal", lambda r, **kw: oracle)
    r = multimodal_report.evaluate_multimodal(
        run, tmp_path, n=24, scales=(1.0, 3.0), scorer_steps=300
    )
    want = 0.0 if blank else 1.0
    for row in r["prompt_adherence"]:
        assert row["all"] == want and row["colour"] == want
    assert r["captioning"]["all"] == want and r["captioning"]["exact"] == want
    if not blank:  # the true images are the held-out images: FID near 0
        assert r["fid"]["samples_at_last_scale"] < 0.1 * r["fid"]["train_vs_held_out"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["captioning"] == r["captioning"]
    assert "all three" in (tmp_path / "report.md").read_text()
    sc = config().sample  # captions are decoded with the run's own text settings
    assert oracle.text_settings == (sc.max_tokens, sc.temperature, sc.top_k, sc.top_p)


def test_a_run_on_other_data_gets_a_clear_error(tmp_path):
    cfg = config("mnist")
    train_multimodal(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"needs data\.source=shapes"):
        multimodal_report.evaluate_multimodal(tmp_path / "run", tmp_path / "out", n=4)
