#!/usr/bin/env bash
# The virtualenvs the benchmark compares against, made once and found by `python -m bench`:
#   .venvs/bench-langchain  openai 2.x + langchain-classic 1.0.x + langchain-openai + this package
#   .venvs/bench-keep       Keep 0.2.7 (Keep's own pins: openai 1.37.1, pydantic 1) + this package,
#                           layered on .venvs/keep027, the CI's Keep venv (.ci/keep-integration.sh)
# Usage: bash bench/setup.sh [--with-keep]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x .venvs/bench-langchain/bin/python ] || "$PYTHON" -m venv .venvs/bench-langchain
.venvs/bench-langchain/bin/python -m pip install -q "openai>=2,<3" "langchain-classic>=1.0,<1.1" langchain-openai -e .
.venvs/bench-langchain/bin/python -c "import langchain_classic, openai; print('bench-langchain: langchain-classic', langchain_classic.__version__, 'openai', openai.__version__)"

if [ "${1:-}" = "--with-keep" ]; then
  # Keep's install is involved (keephq 0.2.7 with --no-deps plus what its imports need): the CI
  # script knows how. It leaves .venvs/keep027 with Keep but without this package (it uninstalls
  # it at the end), so the bench venv sees keep027's packages through a .pth file and gets this
  # package as an editable install of its own.
  [ -x .venvs/keep027/bin/python ] || bash .ci/keep-integration.sh
  [ -x .venvs/bench-keep/bin/python ] || "$PYTHON" -m venv .venvs/bench-keep
  site=$(.venvs/keep027/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  own=$(.venvs/bench-keep/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$site" > "$own/zz_keep027.pth"
  .venvs/bench-keep/bin/python -m pip install -q --no-deps -e .
  .venvs/bench-keep/bin/python -W ignore -c "import keep.providers.base.base_provider, openai; from keep_openaiassistant import OpenaiassistantProvider; print('bench-keep: Keep importable, openai', openai.__version__)"
fi
