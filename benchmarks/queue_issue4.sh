#!/usr/bin/env bash
# The remaining issue-4 measurements, one heavy job at a time (2 cores: never two at once).
# Each step writes its own JSON under benchmarks/results/, so a queue cut off by the end of a
# session keeps every finished result. Run from the repository root:
#     nohup bash benchmarks/queue_issue4.sh > /tmp/queue_issue4.log 2>&1 &
# Done: L = 24 on all four data sets, ETTh L = 64 / 128 / 256 / 384, the sampler and step-spacing
# comparisons (sessions 1-7), TransFusion's protocol on Stocks L = 100 and Air L = 100 (all 13
# columns interpolated), Stocks L = 384 (session 8; rescored with --reuse if its JSON is missing).
# Cost notes (bf16, `small`): L = 100 trains at ~315 windows/s (6000 steps = 20 min), L = 384 at
# ~70 (6000 steps of 32 = 45 min); at L = 384 each LDS repeat is ~17 min and LPS ~10 min, and the
# TransFusion protocol also scores real training windows (the floor), so LDS/LPS run once there.
set -u
cd "$(dirname "$0")/.."
Q=".venv/bin/python benchmarks/quality_timeseries.py"
step() { echo "== $(date +%H:%M) $*"; "$@" || echo "!! failed: $*"; }

# Air without interpolation lines: NMHC(GT) (90% missing) dropped, windows over filled gaps
# longer than 6 hours left out (data.max_missing / data.max_gap; 5040 windows at L = 100, 1836
# at L = 384)
AIR_CLEAN="--set data.max_missing=0.5 data.max_gap=6 --tag clean"
if [ ! -f benchmarks/results/quality/air_L100_transfusion_clean.json ]; then
    step $Q --data air --length 100 --protocol transfusion --steps 4000 --bf16 --repeats 3 \
        --long-repeats 1 $AIR_CLEAN --reuse  # --reuse: a run trained in session 8 is only scored
fi
if [ ! -f benchmarks/results/quality/stocks_L384_transfusion_default.json ]; then
    step $Q --data stocks --length 384 --protocol transfusion --steps 6000 --batch-size 32 --bf16 \
        --repeats 3 --long-repeats 1 --reuse
fi
step $Q --data air --length 384 --protocol transfusion --steps 4000 --batch-size 32 --bf16 \
    --repeats 3 --long-repeats 1 $AIR_CLEAN
# the two L = 24 gaps (Stocks correlational, fMRI Context-FID / predictive): a wider, shallower model
for data in stocks fmri; do
    step $Q --data $data --length 24 --steps 6000 --bf16 --no-long-scores --tag ablation-wide \
        --set model.width=256 model.depth=3 model.heads=4 model.ff=1024
done
