"""The evaluation suite's validation numbers, with the published budgets, on ETTh.

Run: .venv/bin/python benchmarks/suite_validation.py [--length 24] [--n 1000]

Two disjoint random sets of real ETTh1 windows (A, B), Gaussian noise with the data's per-feature
mean and std (N), and time-shuffled real windows (S). Prints every score for A vs B (should be
near 0), A vs N (LDS / discriminative near 0.5), A vs S; the Fréchet distance of two Gaussians
against its closed form; PRDC of a set against itself; the memorisation check on a copy of the
training windows; and a score recomputed after shuffling the window order (must not change).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tfusion.data import load_table, make_windows
from tfusion.metrics.correlation import correlational_score
from tfusion.metrics.discriminative import lds_fast, timegan_discriminative
from tfusion.metrics.distribution import normalise
from tfusion.metrics.fid import context_fid, frechet_distance, train_encoder
from tfusion.metrics.memorisation import memorisation_check
from tfusion.metrics.prdc import prdc

ETTH = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETTh1.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--length", type=int, default=24)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="5%% budgets (a smoke run)")
    ap.add_argument("--out", default="benchmarks/results/suite_validation.json")
    args = ap.parse_args()
    f = 0.05 if args.quick else 1.0
    its = {"lds": int(2000 * f), "disc": int(2000 * f), "fid": int(200 * f)}
    t0 = time.perf_counter()
    x = load_table(ETTH).values[:, :6]
    w = make_windows(x, args.length, 1)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(w))
    a = w.batch(idx[: args.n]).astype(np.float64)
    b = w.batch(idx[args.n : 2 * args.n]).astype(np.float64)
    train = w.batch(idx[2 * args.n : 4 * args.n]).astype(np.float64)
    mu, sd = a.mean(axis=(0, 1)), a.std(axis=(0, 1))
    noise = mu + sd * rng.standard_normal(a.shape)
    shuffled = np.stack([win[rng.permutation(args.length)] for win in b])
    rows: dict[str, dict[str, float]] = {}
    encoder = None
    for name, other in (
        ("real vs real", b),
        ("real vs noise", noise),
        ("real vs shuffled", shuffled),
    ):
        r, s = normalise(a, other)
        if encoder is None:
            encoder = train_encoder(r, seed=0, iterations=its["fid"])
        rows[name] = {
            "LDS (fast)": lds_fast(r, s, its["lds"], seed=0),
            "TimeGAN discriminative": timegan_discriminative(r, s, its["disc"], seed=0),
            "Context-FID": context_fid(r, s, encoder=encoder),
            "correlational": correlational_score(r, s),
        }
        print(name, {k: round(v, 4) for k, v in rows[name].items()}, flush=True)

    # order invariance: the same pair, windows reversed in order
    r, s = normalise(a, b)
    order_lds = lds_fast(r[::-1].copy(), s[::-1].copy(), its["lds"], seed=0)
    order_fid = context_fid(r[::-1].copy(), s[::-1].copy(), encoder=encoder)

    # Fréchet distance of two known Gaussians vs the closed form
    rng2 = np.random.default_rng(1)
    m1, m2 = rng2.normal(size=4), rng2.normal(size=4)
    q1, q2 = rng2.normal(size=(4, 4)), rng2.normal(size=(4, 4))
    c1, c2 = q1 @ q1.T + np.eye(4), q2 @ q2.T + np.eye(4)
    evals = np.linalg.eigvals(c1 @ c2)
    closed = float(
        ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(evals).real.sum()
    )
    fd = frechet_distance(m1, c1, m2, c2)

    emb = rng2.normal(size=(500, 16))
    same = prdc(emb, emb.copy())
    copy_check = memorisation_check(train, a, train[: args.n])
    fresh_check = memorisation_check(train, a, b)
    result = {
        "length": args.length,
        "n": args.n,
        "scores": rows,
        "order_invariance": {
            "LDS": [rows["real vs real"]["LDS (fast)"], order_lds],
            "Context-FID": [rows["real vs real"]["Context-FID"], order_fid],
        },
        "frechet": {"computed": fd, "closed_form": closed},
        "prdc_identical": same,
        "memorisation": {"copy_of_train": copy_check, "independent_real": fresh_check},
        "seconds": time.perf_counter() - t0,
    }
    print(f"order: LDS {order_lds:.4f}, Context-FID {order_fid:.4f} (same as real vs real)")
    print(f"Fréchet: computed {fd:.6f}, closed form {closed:.6f}")
    print(f"PRDC of a set against itself: {same}")
    print(
        f"memorisation: copy flagged {copy_check['copies_training_data']}, independent real "
        f"flagged {fresh_check['copies_training_data']}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
