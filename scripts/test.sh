#!/usr/bin/env bash
# The checks and the test suite on both ends of the supported openai SDK range, then the Keep
# integration.
#
#   lint: ruff (lint + format), mypy --strict on the package, the import contracts (lint-imports)
#   low : openai 1.37.1, httpx 0.26.0, pydantic 1.10.19 — exactly the pins of current Keep's lock
#   high: the newest openai 3.x on httpx2, pydantic 2
#
# Each end gets its own venv under .venvs/ (created on first use, reused after).
# Usage: scripts/test.sh [lint|low|high|keep]...   (default: all four)   extra pytest args via PYTEST_ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lint low high keep)

pins_low=("openai==1.37.1" "httpx==0.26.0" "pydantic==1.10.19")
pins_high=("openai>=3,<4")

run_suite() {
  local name=$1; shift
  local venv=.venvs/$name
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  local extras=${EXTRAS:-test,seam}
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" "$@"
  "$venv/bin/python" - <<'PY'
import openai, pydantic, sys
print(f"== python {sys.version.split()[0]}, openai {openai.__version__}, pydantic {pydantic.VERSION}")
PY
  "$venv/bin/python" -m pytest ${PYTEST_ARGS:-}
}

run_lint() {
  local venv=.venvs/high
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,seam,lint]' "${pins_high[@]}"
  echo "== ruff check, ruff format --check, mypy --strict, lint-imports"
  "$venv/bin/ruff" check .
  "$venv/bin/ruff" format --check .
  "$venv/bin/mypy"
  "$venv/bin/lint-imports"
}

for target in "${targets[@]}"; do
  case $target in
    lint) run_lint ;;
    low) run_suite low "${pins_low[@]}" ;;
    high) EXTRAS=${EXTRAS:-test,seam,mcp} run_suite high "${pins_high[@]}" ;;
    keep) bash .ci/keep-integration.sh ;;
    *) echo "unknown target: $target (lint, low, high or keep)" >&2; exit 2 ;;
  esac
done
