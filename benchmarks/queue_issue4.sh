#!/usr/bin/env bash
# The remaining issue-4 measurements, one heavy job at a time (2 cores: never two at once).
# Each step writes its own JSON under benchmarks/results/, so a queue cut off by the end of a
# session keeps every finished result. Run from the repository root:
#     nohup bash benchmarks/queue_issue4.sh > /tmp/queue_issue4.log 2>&1 &
# Done: L = 24 on all four data sets (+ the wide-model ablation), ETTh L = 64 / 128 / 256 / 384,
# the sampler and step-spacing comparisons, TransFusion's protocol on Stocks L = 100 / 384, Air
# L = 100 (all columns interpolated) and Air L = 384 clean (session 9; its floor in a separate
# *_floor.json).
# Cost notes: on a CPU with bf16 units (AMX) `small` trains at ~315 windows/s at L = 100 and ~70
# at L = 384 under bf16; on an AVX2-only CPU bf16 falls back to fp32: ~126 and ~22-28 windows/s.
# At L = 384 each LDS repeat is ~17 min and LPS ~10 min on the AMX machine.
set -u
cd "$(dirname "$0")/.."
Q=".venv/bin/python benchmarks/quality_timeseries.py"
step() { echo "== $(date +%H:%M) $*"; "$@" || echo "!! failed: $*"; }
R=benchmarks/results

# Session 10 finished the full speed table (results/speed_full_2026-12-04.json) and Stocks L = 24
# ODE vs SDE on the fp32 model (stocks_L24_diffusion-ts_fp32-avx2_karras-{ode,sde}.json).
AIR_CLEAN="--set data.max_missing=0.5 data.max_gap=6 --tag clean"

# 1. Air L = 384 clean, the trained run scored with DPM++ SDE (eta 1: fixes the spread of window
#    means, results/dispersion_air_L384_clean.json)
[ -f $R/quality/air_L384_transfusion_clean_sde.json ] || step $Q --data air --length 384 \
    --protocol transfusion --steps 2500 --batch-size 32 --repeats 1 --long-repeats 1 $AIR_CLEAN \
    --reuse --eta 1.0 --score-tag sde --no-real-reference --metrics context_fid correlational lds lps

# 2. Air L = 384 clean: the real-window floor (needs no model)
if [ ! -f $R/quality/air_L384_transfusion_clean_floor.json ]; then
    step $Q --data air --length 384 --protocol transfusion --repeats 1 --long-repeats 1 \
        $AIR_CLEAN --floor-only
fi

# 3. Air L = 100 without interpolation lines (does LDS reach the floor once they are gone?)
[ -f $R/quality/air_L100_transfusion_clean.json ] || step $Q --data air --length 100 \
    --protocol transfusion --steps 4000 --bf16 --repeats 3 --long-repeats 1 $AIR_CLEAN
