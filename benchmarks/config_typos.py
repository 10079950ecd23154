"""How fast a config typo fails: `tfusion train` in a fresh process, one bad value and one unknown
key per section (data, model, diffusion, train, sample) per family. Each must exit with code 2,
print one `error:` line that names the key, and write nothing into the run folder.

    python benchmarks/config_typos.py --out benchmarks/results/config_typos.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# family -> (YAML header, {section: (bad value override, key the message must name)})
CASES: dict[str, tuple[str, dict[str, str]]] = {
    "timeseries": (
        "",
        {
            "data": "data.scaler=minmaxx",
            "model": "model.preset=smal",
            "diffusion": "diffusion.schedule=cosinee",
            "train": "train.lr=-1",
            "sample": "sample.sampler=dpmpp",
        },
    ),
    "dit": (
        "family: dit\n",
        {
            "data": "data.test_fraction=1.5",
            "model": "model.preset=DiT-XX/2",
            "diffusion": "diffusion.prediction=noise",
            "train": "train.batch_size=0",
            "sample": "sample.spacing=karas",
        },
    ),
    "multimodal": (
        "family: multimodal\n",
        {
            "data": "data.test_fraction=-0.1",
            "model": "model.encoder=convnet",
            "diffusion": "diffusion.loss=l3",
            "train": "train.ema_decay=1.5",
            "sample": "sample.top_p=2.0",
        },
    ),
}


def run_case(tfusion: list[str], family: str, header: str, override: str, root: Path) -> dict:
    """One `tfusion train` with a bad override; what it printed and how long it took."""
    cfg = root / f"{family}.yaml"
    cfg.write_text(header or "{}\n")
    out = root / f"run-{family}-{override.split('=')[0]}"
    t0 = time.perf_counter()
    p = subprocess.run(
        [*tfusion, "train", "--config", str(cfg), "--out", str(out), override],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    err = p.stderr.strip().splitlines()
    key = override.split("=")[0]
    return {
        "family": family,
        "override": override,
        "exit": p.returncode,
        "seconds": round(seconds, 2),
        "message": err[-1] if err else "",
        "one_line": len(err) == 1 and err[0].startswith("error:"),
        "names_key": bool(err) and key.split(".")[-1] in err[-1],
        "nothing_written": not (out / "config.yaml").exists(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="JSON results file")
    a = ap.parse_args()
    tfusion = [sys.executable, "-m", "tfusion"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, (header, sections) in CASES.items():
            for section, bad_value in sections.items():
                unknown = f"{section}.no_such_key=1"
                for override in (bad_value, unknown):
                    rows.append(run_case(tfusion, family, header, override, Path(tmp)))
    print(f"{'family':<11} {'override':<32} {'exit':>4} {'s':>6}  ok  message")
    for r in rows:
        ok = r["exit"] == 2 and r["one_line"] and r["names_key"] and r["nothing_written"]
        print(
            f"{r['family']:<11} {r['override']:<32} {r['exit']:>4} {r['seconds']:>6.2f}  "
            f"{'yes' if ok else 'NO ':<3} {r['message'][:90]}"
        )
    worst = max(r["seconds"] for r in rows)
    good = sum(
        r["exit"] == 2 and r["one_line"] and r["names_key"] and r["nothing_written"] for r in rows
    )
    print(f"{good}/{len(rows)} cases fail cleanly; slowest {worst:.2f} s (target < 10 s)")
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "slowest_s": worst}, indent=2))


if __name__ == "__main__":
    main()
