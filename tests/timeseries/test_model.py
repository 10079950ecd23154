"""The TransFusion denoiser: the published shape, presets, any length, both architectures."""

import pytest
import torch

from tfusion.errors import ConfigError
from tfusion.timeseries.config import ModelConfig
from tfusion.timeseries.model import TimeSeriesDenoiser, count_parameters
from tfusion.timeseries.presets import TIMESERIES_PRESETS, resolve_model


def test_paper_preset_has_the_published_parameter_count():
    m = TimeSeriesDenoiser.from_config(ModelConfig(preset="transfusion-paper"), features=6)
    # Linear(6->256) + step MLP 2x(256x256+256) + 6 post-LN layers (attn 4*256^2+4*256,
    # FF 2*256*1024+1024+256, 2 LayerNorms) + Linear(256->6)
    layer = (4 * 256 * 256 + 4 * 256) + (2 * 256 * 1024 + 1024 + 256) + 2 * 2 * 256
    expected = (6 * 256 + 256) + 2 * (256 * 256 + 256) + 6 * layer + (256 * 6 + 6)
    assert count_parameters(m) == expected == 4_873_478


def test_paper_preset_structure():
    m = TimeSeriesDenoiser.from_config(ModelConfig(preset="transfusion-paper"), features=6)
    layers = m.encoder.layers
    assert len(layers) == 6
    first = layers[0]
    assert first.norm_first is False  # post-LN
    assert first.self_attn.num_heads == 8
    assert first.linear1.out_features == 1024
    assert first.dropout.p == pytest.approx(0.1)
    assert first.activation is torch.nn.functional.gelu


@pytest.mark.parametrize("preset", list(TIMESERIES_PRESETS))
@pytest.mark.parametrize("length", [24, 100])
def test_shapes_and_time_dependence(preset, length):
    torch.manual_seed(0)
    m = TimeSeriesDenoiser.from_config(ModelConfig(preset=preset), features=3).eval()
    if m.arch == "modern":  # adaLN-Zero starts as identity; perturb so t matters
        for p in m.parameters():
            p.data.add_(0.02 * torch.randn_like(p))
    x = torch.randn(2, length, 3)
    y1 = m(x, torch.tensor([0.1, 0.1]))
    y2 = m(x, torch.tensor([0.9, 0.9]))
    assert y1.shape == (2, length, 3)
    assert not torch.allclose(y1, y2)  # the step matters


@pytest.mark.parametrize("arch", ["paper", "modern"])
def test_long_windows_work(arch):
    m = TimeSeriesDenoiser(2, width=32, depth=1, heads=4, ff=64, dropout=0.0, arch=arch).eval()
    out = m(torch.randn(1, 1024, 2), torch.tensor([0.5]))
    assert out.shape == (1, 1024, 2) and torch.isfinite(out).all()


def test_paper_model_is_permutation_aware():
    # positions are added, so reversing time must change the output beyond a reversal
    torch.manual_seed(0)
    m = TimeSeriesDenoiser(2, width=32, depth=1, heads=4, ff=64, dropout=0.0, arch="paper").eval()
    x = torch.randn(1, 16, 2)
    t = torch.tensor([0.5])
    assert not torch.allclose(m(x.flip(1), t), m(x, t).flip(1), atol=1e-4)


def test_overrides_and_unknown_preset():
    r = resolve_model(ModelConfig(preset="tiny", depth=3))
    assert r.depth == 3 and r.width == TIMESERIES_PRESETS["tiny"]["width"]
    with pytest.raises(ConfigError, match="did you mean 'small'"):
        resolve_model(ModelConfig(preset="smal"))
    with pytest.raises(ConfigError, match="divisible"):
        resolve_model(ModelConfig(preset="tiny", heads=5))
