#!/usr/bin/env bash
# The test suite on both ends of the supported openai SDK range, then the Keep integration.
#
#   low : openai 1.37.1 on httpx 0.27, pydantic 1.10.19 — exactly Keep's own pins
#   high: the newest openai 3.x on httpx2, pydantic 2
#
# Each end gets its own venv under .venvs/ (created on first use, reused after).
# Usage: scripts/test.sh [low|high|keep]...   (default: all three)   extra pytest args via PYTEST_ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(low high keep)

pins_low=("openai==1.37.1" "httpx==0.27.2" "pydantic==1.10.19")
pins_high=("openai>=3,<4")

run_suite() {
  local name=$1; shift
  local venv=.venvs/$name
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' "$@"
  "$venv/bin/python" - <<'PY'
import openai, pydantic, sys
print(f"== python {sys.version.split()[0]}, openai {openai.__version__}, pydantic {pydantic.VERSION}")
PY
  "$venv/bin/python" -m pytest ${PYTEST_ARGS:-}
}

for target in "${targets[@]}"; do
  case $target in
    low) run_suite low "${pins_low[@]}" ;;
    high) run_suite high "${pins_high[@]}" ;;
    keep) bash .ci/keep-integration.sh ;;
    *) echo "unknown target: $target (low, high or keep)" >&2; exit 2 ;;
  esac
done
