#!/usr/bin/env bash
# Trains the three shipped models and the recipe comparison, resumably:
# rerun the same command after an interruption and each stage continues
# from its last checkpoint (finished stages are skipped).
#   bash inversion/train_defaults.sh [DATA_DIR] [RUNS_DIR]
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs}
PY=${PYTHON:-.venv/bin/python}
PHOTOS=("$DATA/celeba-6k.tar.gz:train_dataset" "$DATA/lfw-deepfunneled.tar.gz")
mkdir -p "$RUNS" .cache
[ -d .cache/cufs/train_photos ] || { mkdir -p .cache/cufs && tar -xzf "$DATA/cufs-train.tar.gz" -C .cache/cufs; }

stage() {  # stage OUT STEPS ARGS...: run or resume until OUT has STEPS steps
  local out=$1 steps=$2; shift 2
  if [ -f "$RUNS/$out.done" ]; then echo "skip $out (done)"; return; fi
  "$PY" -m inversion.train --data "${PHOTOS[@]}" --out "$RUNS/$out.pt" --steps "$steps" --resume "$@"
  touch "$RUNS/$out.done"
}

# Recipe comparison on grayscale: pixel + TV (A) against pixel + TV + SFace
# feature and identity losses (B), same steps, data and seed.
stage grayscale-recipe-a 750 --style grayscale --feature-net none
stage grayscale-recipe-b 750 --style grayscale --feature-net sface
# The shipped models continue from recipe B (warm start, fresh schedule).
stage grayscale-synthetic 1500 --style grayscale --feature-net sface --init "$RUNS/grayscale-recipe-b.pt"
stage grayscale 400 --style grayscale --feature-net sface --init "$RUNS/grayscale-synthetic.pt" \
  --learning-rate 3e-4 --hand-drawn .cache/cufs --hand-drawn-names inversion/splits/cufs_train.txt
stage line 1000 --style line --feature-net sface --init "$RUNS/grayscale-synthetic.pt"
stage color 1000 --style color --feature-net sface --init "$RUNS/grayscale-synthetic.pt"
