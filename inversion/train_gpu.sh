#!/usr/bin/env bash
# The grayscale model's GPU stage: two runs side by side on one rented GPU,
# both warm-started from the shipped grayscale weights (stage 5 of
# train_defaults.sh) with its losses, for a fixed wall-clock time:
#   python -m inversion.pack PACK --data ... --hand-drawn .cache/cufs \
#     --hand-drawn-names inversion/splits/cufs_train.txt --per-identity 2
#   bash inversion/train_gpu.sh PACK [RUNS_DIR] [SECONDS] [TRAIN_ARGS...]
# Run a: stage 5's recipe (hand-drawn half of each batch, rate 1e-4) at
# batch 32; run b: a quarter hand-drawn and twice the rate, so the model may
# move further from the 201 hand-drawn training pairs it would otherwise see
# hundreds of times. Each keeps its weights after each third of its steps
# (--snapshots 3) for evaluation on the held-out pairs.
set -euo pipefail
PACK=$1
RUNS=${2:-runs}
SECONDS_EACH=${3:-450}
PY=${PYTHON:-python3}
COMMON=(--style grayscale --feature-net sface --adversarial --identity-weight 1.0 --total-variation-weight 0.01
  --data "$PACK" --hand-drawn "$PACK" --hand-drawn-names inversion/splits/cufs_train.txt --mirror-hand-drawn
  --init inversion/weights/grayscale.pt --batch-size 32 --feature-batch 32 --steps 100000
  --time-budget "$SECONDS_EACH" --snapshots 3 --workers 6 --checkpoint-every 1000 "${@:4}")
mkdir -p "$RUNS"
"$PY" -m inversion.train "${COMMON[@]}" --out "$RUNS/gpu-a.pt" --learning-rate 1e-4 --hand-drawn-fraction 0.5 \
  > "$RUNS/gpu-a.log" 2>&1 &
"$PY" -m inversion.train "${COMMON[@]}" --out "$RUNS/gpu-b.pt" --learning-rate 2e-4 --hand-drawn-fraction 0.25 \
  > "$RUNS/gpu-b.log" 2>&1 &
wait
