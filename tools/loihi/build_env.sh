#!/usr/bin/env bash
# Build the Loihi 2 check's environment (`make loihi-env`): a Python 3.10 virtualenv holding
# lava-nc 0.10.0 and lava-dl 0.6.0 (the pair installs together only on Python 3.10: lava-nc
# declares python <3.11) without torch (see the requirements file), every package pinned in
# tools/loihi/requirements-loihi.txt and installed with --no-deps, so the environment is exactly
# that file on any machine. Then it checks that the check's imports work.
#
# Usage: tools/loihi/build_env.sh [VENV]   (default .loihi-venv; PY310=/path/to/python3.10)
# Exit 0 built (or already built from the same requirements), 2 with one line on stderr when no
# Python 3.10 is found or the build fails (pip's output is kept in VENV.log).
set -u
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-loihi.txt"
venv=${1:-.loihi-venv}
stamp="$venv/.installed"
log="$venv.log"

if [ -z "${PY310:-}" ]; then
    for cand in "$HOME"/.pyenv/versions/3.10*/bin/python3.10 "$(command -v python3.10 || true)"; do
        if [ -n "$cand" ] && [ -x "$cand" ]; then PY310=$cand; break; fi
    done
fi
if [ -z "${PY310:-}" ] || [ ! -x "$PY310" ]; then
    echo "loihi-env: no Python 3.10 interpreter (looked in ~/.pyenv/versions/3.10*/bin and on PATH; set PY310=/path/to/python3.10)" >&2
    exit 2
fi
ver=$("$PY310" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
if [ "$ver" != "3.10" ]; then
    echo "loihi-env: PY310=$PY310 is Python ${ver:-?}, not 3.10 (lava-nc 0.10.0 requires <3.11, lava-dl 0.6.0 >=3.10)" >&2
    exit 2
fi
if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    echo "loihi-env: $venv is up to date"
    exit 0
fi

start=$(date +%s)
rm -rf "$venv"
fail() {
    echo "loihi-env: $1 (see $log)" >&2
    exit 2
}
"$PY310" -m venv "$venv" >"$log" 2>&1 || fail "python3.10 -m venv $venv failed"
"$venv/bin/python" -m pip install --no-deps --no-input -q -r "$req" >>"$log" 2>&1 \
    || fail "pip install -r $req failed: $(grep -m1 -E 'ERROR|error:' "$log")"
# the check's own imports: netx without torch (tools/loihi/lava_env.py) and Lava's simulator
"$venv/bin/python" -c "
import sys; sys.path.insert(0, '$here')
import lava_env
lava_env.import_netx()
from lava.magma.core.run_configs import Loihi2SimCfg
print(lava_env.versions())
" >>"$log" 2>&1 || fail "the environment does not import lava.magma or lava.lib.dl.netx: $(tail -n1 "$log")"
cp "$req" "$stamp"
echo "loihi-env: built $venv in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
