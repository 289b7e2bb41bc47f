#!/usr/bin/env bash
# Set up a fresh machine and run the test suite (the README's second command; .ci/run calls it).
# Installs: a virtualenv in .venv with hub-publish and its test, JAX and PyTorch (CPU) extras,
# and, when run as root on Debian, chromium + chromedriver (browser test) and graphviz (plots).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".[test,jax,torch]"
# Declared requirements must agree with what got installed (issue 12: "pip check is clean").
.venv/bin/python -m pip check

if ! { command -v chromium && command -v chromedriver && command -v dot; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver graphviz >/dev/null
  else
    echo "note: chromium/chromedriver/graphviz missing and not installable here; the browser and graph tests skip (under CI=true they fail)" >&2
  fi
fi

exec .venv/bin/python -m pytest "$@"
