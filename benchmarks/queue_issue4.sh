#!/usr/bin/env bash
# The remaining issue-4 measurements, one heavy job at a time (2 cores: never two at once).
# Each step writes its own JSON under benchmarks/results/, so a queue cut off by the end of a
# session keeps every finished result. Run from the repository root:
#     nohup bash benchmarks/queue_issue4.sh > /tmp/queue_issue4.log 2>&1 &
# Training is sized to stay under 60 min per data set at the measured bf16 rates (L = 128:
# 276 windows/s, 384: 76); scoring at L = 384 (LDS, LPS, GRU scores) adds about an hour.
set -u
cd "$(dirname "$0")/.."
Q=".venv/bin/python benchmarks/quality_timeseries.py"
step() { echo "== $(date +%H:%M) $*"; "$@" || echo "!! failed: $*"; }

# long ETTh windows (Diffusion-TS Table 2 at 64/128/256; ours at 384), <= 60 min training each
step $Q --data etth --length 128 --steps 8000 --bf16
step $Q --data etth --length 256 --steps 5000 --batch-size 48 --bf16 --repeats 3
step $Q --data etth --length 384 --steps 6000 --batch-size 32 --bf16 --repeats 3
# samplers at equal quality on the L = 384 run just trained (DDPM-1000 on fewer windows)
step .venv/bin/python benchmarks/sampler_quality.py \
    --run benchmarks/out/runs/etth_L384_diffusion-ts_default --n 500 --ddpm-n 200 --bf16 \
    --out benchmarks/results/sampler_quality_etth_L384.json
# TransFusion's own setting: reversed series, random 80/20 split, LDS and LPS on held-out windows
for data in stocks air; do
    step $Q --data $data --length 100 --protocol transfusion --steps 8000 --bf16 --repeats 3
    step $Q --data $data --length 384 --protocol transfusion --steps 6000 --batch-size 32 --bf16 \
        --repeats 3
done
