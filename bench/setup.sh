#!/usr/bin/env bash
# The virtualenvs the benchmark compares against, made once and found by `python -m bench`:
#   .venvs/bench-langchain  openai 2.x + langchain-classic 1.0.x + langchain-openai + this package
#   .venvs/keep027          Keep 0.2.7 + this package: made by .ci/keep-integration.sh (the CI's Keep)
# Usage: bash bench/setup.sh [--with-keep]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venvs/bench-langchain/bin/python ]; then
  "$PYTHON" -m venv .venvs/bench-langchain
fi
.venvs/bench-langchain/bin/python -m pip install -q "openai>=2,<3" "langchain-classic>=1.0,<1.1" langchain-openai -e .
.venvs/bench-langchain/bin/python -c "import langchain_classic, openai; print('langchain-classic', langchain_classic.__version__, 'openai', openai.__version__)"
if [ "${1:-}" = "--with-keep" ] && [ ! -x .venvs/keep027/bin/python ]; then
  bash .ci/keep-integration.sh
fi
