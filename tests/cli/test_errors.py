"""Bad input: one line naming the problem, exit code 2, no partial output files."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfusion.cli.main import main

TINY = [
    "model.preset=tiny",
    "model.width=32",
    "model.depth=1",
    "model.ff=64",
    "train.steps=2",
    "train.batch_size=4",
    "train.progress=false",
    "data.window=8",
]


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


def assert_clean_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert err.startswith("error: ")
    assert "\n" not in err, err
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "ok"
    csv = run.parent / "good.csv"
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=(60, 2)), axis=0)
    csv.write_text("a,b\n" + "\n".join(f"{x:.4f},{y:.4f}" for x, y in values))
    assert main(["train", "--out", str(run), f"data.source={csv}", *TINY]) == 0
    return run


@pytest.mark.parametrize(
    ("content", "extra", "words"),
    [
        (None, [], ["not found"]),
        ("a,b\n1,2\n3,x\n4,5\n5,6\n6,7\n7,8\n8,9\n9,1\n1,2\n2,3\n", [], ["'b'", "'x'"]),
        ("a,b\n1,2\n3,inf\n4,5\n", [], ["inf"]),
        ("a,b\n1,2\n3,\n4,5\n5,6\n", ["data.missing=error"], ["missing"]),
        ("a,b\n1,2\n3,4\n4,5\n", [], ["window", "8"]),  # 3 rows < window 8
        ("a,b\n" + "1,2\n" * 20, ["data.window=0"], ["window"]),
        ("a,b\n" + "1,2\n" * 20, ["model.preset=huge"], ["preset", "huge"]),
        ("a,b\n" + "1,2\n" * 20, ["model.widht=3"], ["model.width"]),
        ("\x00\x01garbage\xff", [], []),
    ],
)
def test_train_rejects_bad_input_cleanly(tmp_path, capsys, content, extra, words):
    src = tmp_path / "data.csv"
    if content is not None:
        src.write_bytes(content.encode("latin-1"))
    out = tmp_path / "run"
    code, err = run_cli(capsys, "train", "--out", str(out), f"data.source={src}", *TINY, *extra)
    assert_clean_error(code, err, *words)
    # nothing half-written: no run folder (not even an empty one), and no temp files anywhere
    assert not out.exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_unknown_format_and_directory(tmp_path, capsys):
    f = tmp_path / "data.xlsx"
    f.write_text("x")
    assert_clean_error(*run_cli(capsys, "train", "--out", str(tmp_path / "r"), f"data.source={f}"))
    assert_clean_error(
        *run_cli(capsys, "train", "--out", str(tmp_path / "r"), f"data.source={tmp_path}")
    )


def test_sample_errors(trained_run, tmp_path, capsys):
    out = tmp_path / "x.npy"
    assert_clean_error(
        *run_cli(capsys, "sample", str(tmp_path / "nope"), "--out", str(out)), "not found"
    )
    assert_clean_error(
        *run_cli(capsys, "sample", str(trained_run), "--out", str(tmp_path / "x.txt")),
        ".npy or .csv",
    )
    assert_clean_error(
        *run_cli(capsys, "sample", str(trained_run), "--out", str(tmp_path / "no" / "x.npy")),
        "does not exist",
    )
    assert not out.exists()


def test_corrupt_and_mismatched_checkpoints(trained_run, tmp_path, capsys):
    out = tmp_path / "x.npy"
    bad = tmp_path / "corrupt"
    shutil.copytree(trained_run, bad)
    data = (bad / "ema.safetensors").read_bytes()
    (bad / "ema.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    assert_clean_error(*run_cli(capsys, "sample", str(bad), "--out", str(out)), "corrupt")

    other = tmp_path / "other"
    shutil.copytree(trained_run, other)
    cfg = (other / "config.yaml").read_text().replace("depth: 1", "depth: 2")
    (other / "config.yaml").write_text(cfg)
    assert_clean_error(*run_cli(capsys, "sample", str(other), "--out", str(out)), "do not fit")

    emptied = tmp_path / "emptied"
    shutil.copytree(trained_run, emptied)
    (emptied / "config.yaml").write_text("")
    assert_clean_error(*run_cli(capsys, "sample", str(emptied), "--out", str(out)), "is empty")

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "train_state.pt").write_bytes(b"not a checkpoint")
    assert_clean_error(
        *run_cli(capsys, "train", "--out", str(broken), "--resume", "train.steps=4"), "corrupt"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda text: text[: len(text) // 2], ("data_state.json", "not valid JSON", "cut short")),
        (lambda text: "[1, 2]", ("data_state.json", "no mapping")),
        (lambda text: text.replace('"scaler"', '"scaler_"'), ("lacks the field 'scaler'",)),
        (None, ("data_state.json", "is missing")),
    ],
)
def test_a_damaged_data_state_says_what_is_wrong(trained_run, tmp_path, capsys, damage, words):
    # these had all read "is missing or corrupt (KeyError)": the class name of a Python error
    bad = tmp_path / "bad"
    shutil.copytree(trained_run, bad)
    state = bad / "data_state.json"
    if damage is None:
        state.unlink()
    else:
        state.write_text(damage(state.read_text()))
    out = tmp_path / "x.npy"
    code, err = run_cli(capsys, "sample", str(bad), "--n", "2", "--steps", "2", "--out", str(out))
    assert_clean_error(code, err, *words)
    assert "KeyError" not in err and "JSONDecodeError" not in err
    assert not out.exists()


def test_sample_writes_original_units(trained_run, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["sample", str(trained_run), "--n", "3", "--steps", "5", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "window,step,a,b"
    assert len(lines) == 1 + 3 * 8
    npy = tmp_path / "x.npy"
    assert main(["sample", str(trained_run), "--n", "3", "--steps", "5", "--out", str(npy)]) == 0
    x = np.load(npy)
    assert x.shape == (3, 8, 2)
    # same seed -> the CSV holds the same numbers
    csv_vals = np.loadtxt(out, delimiter=",", skiprows=1)[:, 2:].reshape(3, 8, 2)
    assert np.allclose(csv_vals, x, rtol=1e-5, atol=1e-4)


def test_console_script_exit_code(tmp_path):
    exe = Path(sys.executable).parent / "tfusion"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tfusion"]
    p = subprocess.run(
        [*cmd, "train", "--out", str(tmp_path / "r"), "data.source=/no/such/file.csv"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "not found" in p.stderr


def test_full_disk_and_unwritable_folder_fail_before_training(tmp_path, capsys, monkeypatch):
    csv = write_csv(tmp_path / "d.csv", "a,b\n" + "\n".join(f"{i},{i % 7}" for i in range(60)))
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code, err = run_cli(capsys, "train", "--out", str(blocker / "run"), f"data.source={csv}", *TINY)
    assert_clean_error(code, err, "cannot write to run folder", "--out")

    real = shutil.disk_usage
    monkeypatch.setattr(
        "tfusion.runs.shutil.disk_usage",
        lambda p: real(p)._replace(free=1000),
    )
    out = tmp_path / "full"
    code, err = run_cli(capsys, "train", "--out", str(out), f"data.source={csv}", *TINY)
    assert_clean_error(code, err, "free", "checkpoint needs")
    # nothing of a run was written: no config, no weights, no metrics
    assert not out.exists()  # not even the empty folder


def test_evaluate_rejects_a_zero_repeat_count_before_scoring(trained_run, tmp_path, capsys):
    out = tmp_path / "ev"
    code, err = run_cli(
        capsys, "evaluate", str(trained_run), "--out", str(out), "--long-repeats", "0"
    )
    assert_clean_error(code, err, "long_repeats")
    assert not out.exists()


def test_sample_spacing_changes_the_grid_not_the_shape(trained_run, tmp_path, capsys):
    paths = {}
    for spacing in ("uniform", "karras"):
        paths[spacing] = tmp_path / f"{spacing}.npy"
        args = ["sample", str(trained_run), "--n", "3", "--steps", "5", "--spacing", spacing]
        assert main([*args, "--out", str(paths[spacing])]) == 0
    a, b = (np.load(p) for p in paths.values())
    assert a.shape == b.shape and np.isfinite(b).all()
    assert not np.allclose(a, b)  # same seed, different time grid
    with pytest.raises(SystemExit):  # argparse rejects an unknown spacing before any work
        main(["sample", str(trained_run), "--spacing", "even", "--out", str(tmp_path / "x.npy")])
    assert not (tmp_path / "x.npy").exists()


def test_outputs_that_cannot_be_written_fail_before_any_work(
    trained_run, tmp_path, capsys, monkeypatch
):
    folder = tmp_path / "taken.npy"
    folder.mkdir()
    code, err = run_cli(capsys, "sample", str(trained_run), "--out", str(folder))
    assert_clean_error(code, err, "is a folder")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    code, err = run_cli(capsys, "sample", str(trained_run), "--out", str(afile / "x.npy"))
    assert_clean_error(code, err, "is a file")
    code, err = run_cli(capsys, "evaluate", str(trained_run), "--n", "4", "--out", str(afile))
    assert_clean_error(code, err, "is a file")
    assert afile.read_text() == "keep me"
    code, err = run_cli(capsys, "sample", str(afile), "--out", str(tmp_path / "x.npy"))
    assert_clean_error(code, err, "is a file, not a run folder")

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tfusion.io._create_beside", refuse)  # a folder that takes no file
    code, err = run_cli(capsys, "sample", str(trained_run), "--out", str(tmp_path / "x.npy"))
    assert_clean_error(code, err, "cannot write to", "Permission denied")
    code, err = run_cli(capsys, "evaluate", str(trained_run), "--out", str(tmp_path / "ev"))
    assert_clean_error(code, err, "cannot write to")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "taken.npy"]


@pytest.mark.parametrize(
    "args",
    [
        ["sample", "RUN", "--length", "0"],
        ["sample", "RUN", "--length", "-5"],
        ["evaluate", "RUN", "--window", "0"],
        ["evaluate", "RUN", "--workers", "0"],
        ["demo", "--steps", "0"],
    ],
)
def test_a_zero_or_negative_count_is_refused_not_read_as_the_default(
    trained_run, tmp_path, capsys, args
):
    argv = [str(trained_run) if a == "RUN" else a for a in args]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "out.npy")])
    assert stop.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_window_length_below_one_is_an_error_in_the_library_too(trained_run):
    from tfusion.errors import ConfigError
    from tfusion.timeseries.sample import TimeSeriesRun

    loaded = TimeSeriesRun.load(trained_run)
    with pytest.raises(ConfigError, match="--length must be at least 1"):
        loaded.generate(2, steps=2, length=-5)
    assert loaded.generate(2, steps=2, length=5).shape == (2, 5, 2)


def test_resuming_with_fewer_steps_than_done_says_so(trained_run, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(trained_run, run)
    before = (run / "model.safetensors").read_bytes()
    code, err = run_cli(capsys, "train", "--out", str(run), "--resume", "train.steps=1")
    assert_clean_error(code, err, "already trained 2 steps", "train.steps")
    assert (run / "model.safetensors").read_bytes() == before


def test_impute_names_the_input_columns_it_leaves_out(trained_run, tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = [
        f"{x:.3f},{'' if i == 5 else f'{y:.3f}'},{i}"
        for i, (x, y) in enumerate(rng.normal(size=(30, 2)))
    ]
    src = write_csv(tmp_path / "three.csv", "a,b,c\n" + "\n".join(rows))
    out = tmp_path / "imp.csv"
    assert main(["impute", str(trained_run), "--input", str(src), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "filled 1 missing" in said and "not in" in said and ": c" in said
    assert out.read_text().splitlines()[0] == "a,b"


def test_garbage_numpy_file_is_named_as_such_not_as_a_pickle(tmp_path, capsys):
    bad = tmp_path / "garbage.npy"
    bad.write_bytes(np.random.default_rng(0).bytes(300))
    code, err = run_cli(capsys, "train", "--out", str(tmp_path / "r"), f"data.source={bad}", *TINY)
    assert_clean_error(code, err, "not a NumPy")
    assert "pickle" not in err


def test_where_without_equals_says_how_to_write_it():
    from tfusion.errors import ConfigError
    from tfusion.timeseries.sample import read_where

    with pytest.raises(ConfigError, match="NAME=VALUE"):
        read_where(["sector"])
    assert read_where(["sector=tech"]) == {"sector": "tech"}
