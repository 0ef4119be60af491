#!/usr/bin/env bash
# Trains the recipe comparison and the three shipped models, resumably (the
# grayscale model's last two stages ran on a GPU: inversion/train_gpu.sh):
# rerun the same command after an interruption and each stage continues
# from its last checkpoint (finished stages are skipped).
#   bash inversion/train_defaults.sh [DATA_DIR] [RUNS_DIR]
# Two chains run side by side with one PyTorch thread each: on a 2-core
# machine shared with other work this degrades gracefully, where one
# 2-thread run stalls at every OpenMP barrier when another process runs.
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs}
PY=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-1}
PHOTOS=("$DATA/celeba-6k.tar.gz:train_dataset" "$DATA/lfw-deepfunneled.tar.gz")
mkdir -p "$RUNS" .cache
[ -d .cache/cufs/train_photos ] || { mkdir -p .cache/cufs && tar -xzf "$DATA/cufs-train.tar.gz" -C .cache/cufs; }

stage() {  # stage NAME STEPS ARGS...: run or resume until NAME has STEPS steps
  local name=$1 steps=$2; shift 2
  if [ -f "$RUNS/$name.done" ]; then echo "skip $name (done)"; return; fi
  "$PY" -m inversion.train --data "${PHOTOS[@]}" --out "$RUNS/$name.pt" --steps "$steps" --resume \
    --threads "$THREADS" "$@" > "$RUNS/$name.log" 2>&1
  touch "$RUNS/$name.done"
}
after() { until [ -f "$RUNS/$1.done" ]; do sleep 20; done; }

# Chain 1. Recipe B (pixel + TV + SFace feature and identity losses, 750
# steps on synthetic sketches), then the grayscale model continues
# from it (warm start, fresh schedule) on batches half synthetic, half
# hand-drawn CUFS pairs (the 201 of inversion/splits/cufs_train.txt; the 67
# of cufs_val.txt are never trained on), with a stronger identity loss.
# Stages 3 and 4 go on from there with the
# PatchGAN discriminator switched on (weight 0.01), a 5x stronger identity
# loss (1.0), a 10x weaker total-variation loss (0.01) and mirrored
# hand-drawn pairs; stage 4 is 1000 more steps at a lower rate; stage 5
# puts the SFace losses on all 16 images of each batch, the
# synthetic ones too, for 600 steps, so the model keeps what it knew of
# faces drawn in other ways. (Stage 4's
# variant with three quarters of every batch hand-drawn, --hand-drawn-fraction
# 0.75 --feature-batch 12, scored lower; docs/MODEL_REPORT.md.)
(
  stage grayscale-recipe-b 750 --style grayscale --feature-net sface
  stage grayscale 800 --style grayscale --feature-net sface --init "$RUNS/grayscale-recipe-b.pt" \
    --learning-rate 5e-4 --identity-weight 0.2 --hand-drawn .cache/cufs \
    --hand-drawn-names inversion/splits/cufs_train.txt --hand-drawn-fraction 0.5
  HAND=(--style grayscale --feature-net sface --adversarial --identity-weight 1.0 --total-variation-weight 0.01
    --hand-drawn .cache/cufs --hand-drawn-names inversion/splits/cufs_train.txt --mirror-hand-drawn)
  stage grayscale-gan 1500 "${HAND[@]}" --init "$RUNS/grayscale.pt" --learning-rate 3e-4 --hand-drawn-fraction 0.5
  stage grayscale-hand 1000 "${HAND[@]}" --init "$RUNS/grayscale-gan.pt" --learning-rate 2e-4 --hand-drawn-fraction 0.5
  stage grayscale-general 600 "${HAND[@]}" --init "$RUNS/grayscale-hand.pt" --learning-rate 1e-4 \
    --hand-drawn-fraction 0.5 --feature-batch 16
) &
# Chain 2. Recipe A (pixel + TV only, same steps, data and seed as B), then
# the line and colour models, warm-started from recipe A's grayscale weights
# and trained with recipe B's losses on synthetic sketches of their style.
(
  stage grayscale-recipe-a 750 --style grayscale --feature-net none
  stage line 800 --style line --feature-net sface --init "$RUNS/grayscale-recipe-a.pt"
  stage color 800 --style color --feature-net sface --init "$RUNS/grayscale-recipe-a.pt"
) &
# Then the shipped line model: 400 more steps on line sketches with grey
# paper and grey strokes (SketchParams.paper / stroke_strength). The first
# line stage above ran before those existed and gave black composites for
# any sketch with grey in it (hand-drawn pencil); see docs/MODEL_REPORT.md.
(
  after line
  stage line-grey 400 --style line --feature-net sface --init "$RUNS/line.pt" --learning-rate 5e-4
) &
wait
