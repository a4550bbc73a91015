#!/usr/bin/env bash
# The Loihi 2 check (`make loihi-check`): the suite's on-chip evaluation at Loihi 2's precision
# against Lava's fixed-point simulation of Loihi 2 (docs/guides/loihi-check.md).
#   1. lava-dl checkpoints: LOIHI_CKPT (space-separated), else one per architecture of
#      LOIHI_ARCHS trained here on LOIHI_DATASET (LOIHI_EPOCHS epochs: the check is about
#      spikes, not accuracy);
#   2. the smoke network (tools/loihi/prepare.py smoke), run in Lava;
#   3. per checkpoint, in OUT/<checkpoint name>/: `run_bench.py export --format lava-hdf5
#      --loihi2`; tools/loihi/prepare.py suite (the file's integers checked equal to
#      backends/targets/loihi2_fixed.py's, the reference from the on-chip evaluation's forward);
#      tools/loihi/loihi_check.py in the Python 3.10 Lava environment (loihi_check.json);
#      tools/loihi/record.py: the architecture's entry in LOIHI_RECORD.
# Environment: PY (the suite's python), LOIHI_VENV, LOIHI_OUT, LOIHI_MAX_TEST (an evenly spaced
# subset of the test split; "all" for every recording), LOIHI_RECORD (default the committed
# backends/targets/loihi2_lava_check.json). Exit 0 no mismatch, 1 mismatches, 2 bad input (one
# line).
set -eu
PY=${PY:-.venv/bin/python}
LOIHI_VENV=${LOIHI_VENV:-.loihi-venv}
OUT=${LOIHI_OUT:-runs/loihi}
ARCHS=${LOIHI_ARCHS:-tiny_nir tiny_iaf}
DATASET=${LOIHI_DATASET:-synthetic-fer-dvs}
EPOCHS=${LOIHI_EPOCHS:-1}
MAX_TEST=${LOIHI_MAX_TEST:-16}
RECORD=${LOIHI_RECORD:-backends/targets/loihi2_lava_check.json}

if [ ! -x "$LOIHI_VENV/bin/python" ] || [ ! -f "$LOIHI_VENV/.installed" ]; then
    echo "loihi-check: no Lava environment in $LOIHI_VENV: run \`make loihi-env\`" >&2
    exit 2
fi
ckpts=${LOIHI_CKPT:-}
if [ -z "$ckpts" ]; then
    # shellcheck disable=SC2086  # ARCHS is a list
    "$PY" run_bench.py run -q --backends lava-dl --archs $ARCHS --datasets "$DATASET" \
        --epochs "$EPOCHS" --folds 0 --seeds 0 --out "$OUT/train" >/dev/null
    for arch in $ARCHS; do
        ckpts="$ckpts $(ls "$OUT"/train/checkpoints/*__lava-dl__"$arch"__*.pt | head -n1)"
    done
fi
for ckpt in $ckpts; do
    [ -f "$ckpt" ] || { echo "loihi-check: $ckpt: no such checkpoint" >&2; exit 2; }
done
limit=()
[ "$MAX_TEST" = all ] || limit=(--max-test "$MAX_TEST")
"$PY" tools/loihi/prepare.py smoke "$OUT"
status=0
"$LOIHI_VENV/bin/python" tools/loihi/loihi_check.py "$OUT" --cases smoke || status=$?
[ "$status" -le 1 ] || exit "$status"
for ckpt in $ckpts; do
    dir="$OUT/$(basename "$ckpt" .pt)"
    "$PY" run_bench.py export -q "$ckpt" "$dir/model.net" --format lava-hdf5 --loihi2 >/dev/null
    "$PY" tools/loihi/prepare.py suite "$ckpt" "$dir/model.net" "$dir" "${limit[@]}"
    rc=0
    "$LOIHI_VENV/bin/python" tools/loihi/loihi_check.py "$dir" --cases suite || rc=$?
    [ "$rc" -le 1 ] || exit "$rc"
    [ "$rc" -eq 0 ] || status=1
    "$PY" tools/loihi/record.py "$dir" --record "$RECORD"
done
exit "$status"
