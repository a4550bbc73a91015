#!/usr/bin/env bash
# The Loihi 2 check (`make loihi-check`): the suite's lava-dl model against Lava's fixed-point
# simulation of Loihi 2 (docs/guides/loihi-check.md).
#   1. a lava-dl checkpoint: LOIHI_CKPT, else one trained here on the default benchmark's dataset
#      (LOIHI_ARCH on LOIHI_DATASET, LOIHI_EPOCHS epochs: the check is about spikes, not accuracy);
#   2. `run_bench.py export --format lava-hdf5 --loihi2` (the suite's Python);
#   3. tools/loihi/prepare.py: the smoke network and the test samples' inputs, spikes and
#      readout currents from the suite's lava-dl model (the suite's Python);
#   4. tools/loihi/loihi_check.py in the Python 3.10 Lava environment: the JSON result.
# Environment: PY (the suite's python), LOIHI_VENV, LOIHI_OUT, LOIHI_MAX_TEST (an evenly spaced
# subset of the test split; "all" for every recording). Exit 0 no mismatch, 1 mismatches, 2 bad
# input (one line).
set -eu
PY=${PY:-.venv/bin/python}
LOIHI_VENV=${LOIHI_VENV:-.loihi-venv}
OUT=${LOIHI_OUT:-runs/loihi}
ARCH=${LOIHI_ARCH:-tiny_nir}
DATASET=${LOIHI_DATASET:-synthetic-fer-dvs}
EPOCHS=${LOIHI_EPOCHS:-1}
MAX_TEST=${LOIHI_MAX_TEST:-16}

if [ ! -x "$LOIHI_VENV/bin/python" ] || [ ! -f "$LOIHI_VENV/.installed" ]; then
    echo "loihi-check: no Lava environment in $LOIHI_VENV: run \`make loihi-env\`" >&2
    exit 2
fi
ckpt=${LOIHI_CKPT:-}
if [ -z "$ckpt" ]; then
    "$PY" run_bench.py run -q --backends lava-dl --archs "$ARCH" --datasets "$DATASET" \
        --epochs "$EPOCHS" --folds 0 --seeds 0 --out "$OUT/train" >/dev/null
    ckpt=$(ls "$OUT"/train/checkpoints/*__lava-dl__"$ARCH"__*.pt | head -n1)
fi
[ -f "$ckpt" ] || { echo "loihi-check: $ckpt: no such checkpoint" >&2; exit 2; }
limit=()
[ "$MAX_TEST" = all ] || limit=(--max-test "$MAX_TEST")
"$PY" run_bench.py export -q "$ckpt" "$OUT/model.net" --format lava-hdf5 --loihi2 >/dev/null
"$PY" tools/loihi/prepare.py smoke "$OUT"
"$PY" tools/loihi/prepare.py suite "$ckpt" "$OUT/model.net" "$OUT" "${limit[@]}"
"$LOIHI_VENV/bin/python" tools/loihi/loihi_check.py "$OUT"
