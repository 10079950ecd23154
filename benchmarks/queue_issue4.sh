#!/usr/bin/env bash
# The remaining issue-4 measurements, one heavy job at a time (2 cores: never two at once).
# Each step writes its own JSON under benchmarks/results/, so a queue cut off by the end of a
# session keeps every finished result. Run from the repository root:
#     nohup bash benchmarks/queue_issue4.sh > /tmp/queue_issue4.log 2>&1 &
# Training is sized to stay under 60 min per data set at the measured bf16 rates (L = 128:
# 276 windows/s, 384: 76). Scoring at L = 384 is dominated by LDS (~17 min per repeat) and LPS
# (~10 min), so they run once (`--long-repeats 1`) and the GRU scores and Context-FID three times.
# Done in session 5: ETTh L = 384 (trained with --train-only, scored with --reuse) and the
# sampler comparison on it. Session 6: ETTh L = 128, the step-spacing comparison, and ETTh L = 256
# trained (2102 s, in benchmarks/out/runs/) but cut off while scoring: --reuse scores it again.
set -u
cd "$(dirname "$0")/.."
Q=".venv/bin/python benchmarks/quality_timeseries.py"
step() { echo "== $(date +%H:%M) $*"; "$@" || echo "!! failed: $*"; }

step $Q --data etth --length 256 --steps 5000 --batch-size 48 --bf16 --repeats 3 --long-repeats 1 \
    --reuse
# TransFusion's own setting: reversed series, random 80/20 split, LDS and LPS on held-out windows
for data in stocks air; do
    step $Q --data $data --length 100 --protocol transfusion --steps 8000 --bf16 --repeats 3
    step $Q --data $data --length 384 --protocol transfusion --steps 6000 --batch-size 32 --bf16 \
        --repeats 3 --long-repeats 1
done
# the two L = 24 gaps (Stocks correlational, fMRI Context-FID / predictive): a wider, shallower model
for data in stocks fmri; do
    step $Q --data $data --length 24 --steps 6000 --bf16 --no-long-scores --tag ablation-wide \
        --set model.width=256 model.depth=3 model.heads=4 model.ff=1024
done
