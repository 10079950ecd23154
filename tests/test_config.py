"""Config: strict keys and types, precedence, YAML round trip."""

import pytest

from tfusion.config import apply_overrides, dump_yaml, from_dict, load_config, to_dict
from tfusion.errors import ConfigError
from tfusion.timeseries.config import RunConfig


def test_defaults_yaml_and_overrides_in_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 7\n  lr: 0.5\ndata:\n  window: 48\n")
    cfg = load_config(
        f, cls=RunConfig, overrides=["train.steps=9", "data.missing_values=[-200, -999]"]
    )
    assert cfg.train.steps == 9  # override beats file
    assert cfg.train.lr == 0.5  # file beats default
    assert cfg.data.window == 48
    assert cfg.data.missing_values == (-200.0, -999.0)
    assert cfg.train.batch_size == RunConfig().train.batch_size  # default kept


def test_round_trip_through_yaml():
    cfg = apply_overrides(
        RunConfig(), ["model.preset=tiny", "data.columns=[a, b]", "train.bf16=true"]
    )
    import yaml

    back = from_dict(RunConfig, yaml.safe_load(dump_yaml(cfg)))
    assert back == cfg
    assert to_dict(back)["data"]["columns"] == ["a", "b"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("trian.steps=3", ["'trian'", "'train'"]),
        ("train.step=3", ["'train.step'", "'train.steps'"]),
        ("train.steps=abc", ["train.steps", "integer"]),
        ("train.bf16=3", ["train.bf16", "true or false"]),
        ("train.lr", ["key=value"]),
        ("train=3", ["train"]),
    ],
)
def test_bad_overrides_name_the_problem(override, words):
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [override])
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_unknown_key_in_file_and_missing_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  widht: 64\n")
    with pytest.raises(ConfigError, match=r"did you mean 'model\.width'"):
        load_config(f, (), RunConfig)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", (), RunConfig)
    f.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f, (), RunConfig)


def test_sample_spacing_is_checked_and_optional_in_old_files(tmp_path):
    assert apply_overrides(RunConfig(), ["sample.spacing=logsnr"]).sample.spacing == "logsnr"
    with pytest.raises(ConfigError, match=r"sample\.spacing must be one of uniform.*'even'"):
        apply_overrides(RunConfig(), ["sample.spacing=even"])
    f = tmp_path / "c.yaml"
    f.write_text("sample:\n  sampler: ddim\n  steps: 20\n")  # written before spacing existed
    assert load_config(f, (), RunConfig).sample.spacing == "karras"  # the default
