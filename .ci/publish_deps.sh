#!/usr/bin/env bash
# System packages that the publication tests need (the LaTeX build of tests/test_reports.py,
# the headless browser of tests/test_html.py), installed from Debian:
#   texlive-latex-recommended  pdflatex with booktabs (the LaTeX tables, reports/tables.py)
#   chromium, chromium-driver  a headless browser and its WebDriver (the web leaderboard,
#                              reports/html.py, driven by selenium)
# plus the Python client selenium into the project's venv. Idempotent: what is already there is
# not installed again, so a second run takes a second. Needs root (CI images run as root).
# Usage: .ci/publish_deps.sh [PYTHON]   (PYTHON defaults to .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
PACKAGES=(texlive-latex-recommended chromium chromium-driver)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    echo "publish_deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "publish_deps: ${PACKAGES[*]} already installed"
fi

# selenium also belongs to the project's dev extra; install it here too for a venv made before
if [[ -x "$PY" ]]; then
    if ! "$PY" -c "import selenium" 2>/dev/null; then
        "$PY" -m pip install -q "selenium>=4.10"
    fi
else
    echo "publish_deps: $PY not there yet; selenium comes with 'make setup' (dev extra)"
fi

# what the tests will find
command -v pdflatex >/dev/null && pdflatex --version | head -n 1
command -v chromium >/dev/null && chromium --version 2>/dev/null
command -v chromedriver >/dev/null && chromedriver --version
if [[ -x "$PY" ]]; then "$PY" -c "import selenium; print('selenium', selenium.__version__)"; fi
