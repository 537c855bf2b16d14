#!/usr/bin/env bash
# Estimators at equal measurement cost on one supernet, for docs/ground-truth.md (answer 2b).
# Every estimator sees 256 measurements of IMAGES held-out images each: the bilinear estimator
# measures its 1 + 240 + 15 contributions; the fitted predictors get 256 random subnets.
# Resumable: a finished file is not rebuilt; builds resume from OUT.partial.json.
#   OMP_NUM_THREADS=1 bash benchmarks/ground_truth_estimators.sh runs/fm-full docs/ground-truth/estimators
set -euo pipefail
RUN=${1:?supernet run directory}
OUT=${2:?output folder}
IMAGES=${IMAGES:-500}
BINAS=${BINAS:-binas}
mkdir -p "$OUT"
build() {  # name, extra build options
  local name=$1; shift
  [ -f "$OUT/$name.json" ] && return
  local resume=(); compgen -G "$OUT/$name.json*.partial.json" >/dev/null && resume=(--resume)
  "$BINAS" estimator build --run "$RUN" --images "$IMAGES" --device cpu "${resume[@]}" --out "$OUT/$name.json" "$@"
}
build regression --method regression
build differences-reference --method differences --convention reference
build differences-conditional --method differences --convention conditional
[ -f "$OUT/samples-256.jsonl" ] || "$BINAS" estimator sample --run "$RUN" --n 256 --images "$IMAGES" \
    --split heldout --seed 0 --out "$OUT/samples-256.jsonl"
for kind in linear bilinear mlp autobuild; do
  [ -f "$OUT/fit-$kind.json" ] || "$BINAS" estimator fit --space mobilenetv3-tiny --samples "$OUT/samples-256.jsonl" --kind "$kind" \
      --out "$OUT/fit-$kind.json"
done
