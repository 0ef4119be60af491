#!/usr/bin/env bash
# Reproduces every figure of docs/MODEL_REPORT.md:
#   bash inversion/evaluate_defaults.sh [DATA_DIR] [RUNS_DIR]
# 1. the recipe comparison (runs/grayscale-recipe-{a,b}.pt, from
#    inversion/train_defaults.sh) on validation data: CelebA validation_dataset
#    (synthetic grayscale sketches) and the held-out CUFS pairs;
# 2. the shipped models (inversion/weights/) on CelebA test_dataset
#    (synthetic sketches of each style) and on the held-out CUFS pairs
#    (hand-drawn), with sketch / composite / photo grids;
# 3. the grayscale model's hand-drawn stages and the variants tried beside
#    them (runs/, from inversion/train_defaults.sh and the report's list).
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs}
PY=${PYTHON:-.venv/bin/python}
OUT=docs/metrics
GRIDS=docs/images
mkdir -p "$OUT" "$GRIDS" .cache
[ -d .cache/cufs/train_photos ] || { mkdir -p .cache/cufs && tar -xzf "$DATA/cufs-train.tar.gz" -C .cache/cufs; }
CUFS=(--photos .cache/cufs/train_photos --sketches .cache/cufs/train_sketches --names inversion/splits/cufs_val.txt --groups)

synthetic() {  # synthetic STYLE SPLIT [RESOLUTION]: aligned photos and seeded sketches of a CelebA split
  local size=${3:-96} dir=.cache/celeba-$2-$1
  [ "$size" = 96 ] || dir=$dir-$size
  [ -d "$dir" ] || "$PY" -m inversion.data --style "$1" --photos "$DATA/celeba-6k.tar.gz:$2_dataset" --out "$dir" \
    --resolution "$size" >&2
  echo "$dir"
}
resolution() {  # resolution STYLE: the shipped model's, from its card
  "$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['resolution'])" "inversion/weights/$1.json"
}

if [ "${SKIP_RECIPES:-0}" != 1 ]; then
  val=$(synthetic grayscale validation)
  for recipe in a b; do
    weights=$RUNS/grayscale-recipe-$recipe.pt
    "$PY" -m inversion.evaluate --style grayscale --weights "$weights" --photos "$val/photos" \
      --sketches "$val/sketches" --aligned --json "$OUT/recipe-$recipe-celeba-val.json"
    "$PY" -m inversion.evaluate --style grayscale --weights "$weights" "${CUFS[@]}" \
      --json "$OUT/recipe-$recipe-cufs-val.json" --grid "$GRIDS/recipe-$recipe-cufs-val.png"
  done
fi

for style in ${STYLES:-line grayscale color}; do
  test=$(synthetic "$style" test "$(resolution "$style")")
  "$PY" -m inversion.evaluate --style "$style" --photos "$test/photos" \
    --sketches "$test/sketches" --aligned --json "$OUT/$style-celeba-test.json" --grid "$GRIDS/$style-celeba-test.png"
  "$PY" -m inversion.evaluate --style "$style" "${CUFS[@]}" \
    --json "$OUT/$style-cufs-val.json" --grid "$GRIDS/$style-cufs-val.png"
done

# A grid each of the CUHK and XM2VTS held-out pairs for the shipped grayscale
# model (the grid above shows the first eight pairs, all AR).
for collection in CUHK XM2VTS; do
  grep "^$collection" inversion/splits/cufs_val.txt > ".cache/cufs-val-$collection.txt"
  "$PY" -m inversion.evaluate --style grayscale --photos .cache/cufs/train_photos --sketches .cache/cufs/train_sketches \
    --names ".cache/cufs-val-$collection.txt" --grid "$GRIDS/grayscale-cufs-val-$collection.png" > /dev/null
done

if [ "${SKIP_STAGES:-0}" != 1 ]; then
  test=$(synthetic grayscale test)
  stage() {  # stage NAME WEIGHTS SET...: the stage's figures on each set (cufs-val, celeba-test)
    local name=$1 weights=$2 set
    shift 2
    [ -f "$weights" ] || { echo "skip stage $name (not trained here; docs/MODEL_REPORT.md says how)"; return; }
    for set in "$@"; do
      if [ "$set" = cufs-val ]; then
        "$PY" -m inversion.evaluate --style grayscale --weights "$weights" "${CUFS[@]}" \
          --json "$OUT/grayscale-stage-$name-cufs-val.json"
      else
        "$PY" -m inversion.evaluate --style grayscale --weights "$weights" --photos "$test/photos" \
          --sketches "$test/sketches" --aligned --json "$OUT/grayscale-stage-$name-celeba-test.json"
      fi
    done
  }
  # stages 2, 4 and 5 also on synthetic sketches: before stage 3, before and after stage 5
  stage 2 "$RUNS/grayscale.pt" cufs-val celeba-test
  stage 3 "$RUNS/grayscale-gan.pt" cufs-val
  stage 4 "$RUNS/grayscale-hand.pt" cufs-val celeba-test
  stage 5 "$RUNS/grayscale-general.pt" cufs-val celeba-test
  stage 3-no-gan "$RUNS/grayscale-no-gan-750.pt" cufs-val
  stage 3-gan-0.05 "$RUNS/grayscale-gan-0.05-500.pt" cufs-val
  stage 4-three-quarters "$RUNS/grayscale-hand-three-quarters.pt" cufs-val
  # the GPU rounds (inversion/train_gpu.sh): the last snapshot of each run
  for run in gpu1-a gpu1-b gpu2-a gpu2-b; do
    stage "$run" "$(ls "$RUNS/$run".step_*.pt 2>/dev/null | sort | tail -1 || true)" cufs-val celeba-test
  done
fi
