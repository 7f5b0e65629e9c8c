#!/usr/bin/env bash
# Keep integration: the built wheel inside a real Keep, then uninstalled again.
#
# Keep's current release is not on PyPI; keephq 0.2.7 (Dec 2023) is, with old pins (pydantic 1,
# openai<0.28). So: keephq 0.2.7 installed with --no-deps, plus only the packages its imports
# need (at keephq's own version ranges, read from its metadata), plus Keep's current SDK pins
# (openai 1.37.1 on httpx 0.26.0, as current Keep's lock — never openai<0.28), plus what Keep's
# API server imports (.ci/keep027-server.txt). Then:
#   1. the wheel holds keep/providers/openaiassistant_provider/ and nothing else under keep/;
#   2. installing it puts the provider inside Keep's own providers folder (discovery A);
#   3. tests/keep/ run against that install (not the source tree) — Keep's workflow runner on
#      every example, and Keep's real API server (`keep api`, SQLite, no auth) installing the
#      provider, taking the workflows and running one on an alert —, doctor says Keep finds it,
#      and the provider module's smoke block answers through the emulator;
#   4. `pip uninstall` removes the provider and Keep still imports.
# Against a current Keep source checkout instead, see docs/keep.md.
#
# Usage: .ci/keep-integration.sh                          keephq 0.2.7 in .venvs/keep027 (CI)
#        KEEP_SOURCE=/tmp/keep-src .ci/keep-integration.sh a current Keep source tree in .venvs/keep-src
# (venvs are reused between runs; KEEP_VENV=DIR puts the venv elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ -n "${KEEP_SOURCE:-}" ]; then VENV="$PWD/.venvs/keep-src"; else VENV="$PWD/.venvs/keep027"; fi
VENV=${KEEP_VENV:-$VENV}
DIST="$PWD/.venvs/keep-dist"
export PIP_DISABLE_PIP_VERSION_CHECK=1
step() { printf '== %s\n' "$*"; }

step "build the wheel"
rm -rf "$DIST" && mkdir -p "$DIST"
"$PYTHON" -m pip wheel -q --no-deps -w "$DIST" .
WHEEL=$(ls "$DIST"/keep_openaiassistant-*.whl)
"$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
under_keep = sorted(n for n in names if n.startswith("keep/"))
expected = [f"keep/providers/openaiassistant_provider/{f}" for f in
            ("__init__.py", "openaiassistant_provider.py", "openaiassistant_provider.yaml")]
assert under_keep == expected, f"the wheel must add exactly {expected} under keep/, got {under_keep}"
# The shim's source folder is moved (not copied) by the force-include: the installed package has no
# keep_adapter/shim/, and `link` on a wheel install links the wheel's keep/providers/ folder instead.
shim = [n for n in names if n.startswith("keep_openaiassistant/keep_adapter/shim/")]
assert not shim, f"the wheel holds the shim twice: {shim}"
print("   wheel adds only", ", ".join(under_keep))
PY

if [ -n "${KEEP_SOURCE:-}" ]; then
  step "Keep from source $KEEP_SOURCE (every main-group pin of its poetry.lock) in $VENV"
  if [ -L "$KEEP_SOURCE/keep/providers/openaiassistant_provider" ]; then
    echo "FAIL: $KEEP_SOURCE is linked (keep_openaiassistant link); run unlink there first" >&2
    exit 2
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  PY="$VENV/bin/python"
  PIP=("$PY" -m pip install -q --disable-pip-version-check)
  "$PY" - "$KEEP_SOURCE/poetry.lock" > "$VENV/keep-locked.txt" <<'PY'
import sys, tomllib
from pip._vendor.packaging.markers import Marker
for p in tomllib.load(open(sys.argv[1], "rb"))["package"]:
    marker = p.get("markers")
    marker = marker.get("main") if isinstance(marker, dict) else marker
    if "main" in p.get("groups", ["main"]) and not (marker and not Marker(marker).evaluate()):
        print(f'{p["name"]}=={p["version"]}')
PY
  "${PIP[@]}" --no-deps -r "$VENV/keep-locked.txt"
  "${PIP[@]}" --no-deps --force-reinstall "$KEEP_SOURCE"   # a regular install, as in Keep's image
  "${PIP[@]}" pytest jsonschema
  export KEEP_FULL_LISTING=1   # every provider's SDK is installed: list the whole folder, as the UI does
else
  step "Keep (keephq 0.2.7) in $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  PY="$VENV/bin/python"
  PIP=("$PY" -m pip install -q --disable-pip-version-check)
  # keephq 0.2.7 declares Python 3.11 only; on a newer Python try it anyway and say so.
  if "$PY" -c 'import sys; sys.exit(sys.version_info[:2] == (3, 11))'; then
    echo "   note: $("$PY" -V) is not 3.11, installing keephq 0.2.7 with --ignore-requires-python"
    "${PIP[@]}" --no-deps --ignore-requires-python "keephq==0.2.7"
  else
    "${PIP[@]}" --no-deps "keephq==0.2.7"
  fi
  # What `import keep.providers.providers_factory`, the context manager and the workflow parser
  # need, at keephq's own ranges; pydantic at Keep's current pin.
  mapfile -t KEEP_DEPS < <("$PY" - <<'PY'
import importlib.metadata, re
needed = {"asteval", "astunparse", "chevron", "click", "cloud-sql-python-connector", "fastapi", "pymysql", "pympler",
          "opentelemetry-instrumentation-sqlalchemy", "python-json-logger", "pyyaml", "requests", "sqlalchemy",
          "sqlmodel", "starlette-context", "validators"}
for req in importlib.metadata.requires("keephq") or []:
    name = re.split(r"[\s(<>=!~;\[]", req, maxsplit=1)[0].lower()
    if name in needed:
        spec = req[len(name):].split(";")[0].strip().strip("()").replace(" ", "")
        print(f"{name}{spec}")
PY
  )
  "${PIP[@]}" "${KEEP_DEPS[@]}" "pydantic==1.10.19" pytz python-dateutil pytest jsonschema 2>&1 \
    | { grep -v "keephq 0.2.7 requires\|dependency resolver\|dependency conflicts" || true; }
  # Keep's API server, for tests/keep/test_keep_server.py (which fails, not skips, when it cannot start)
  "${PIP[@]}" -r .ci/keep027-server.txt "pydantic==1.10.19" 2>&1 \
    | { grep -v "keephq 0.2.7 requires\|dependency resolver\|dependency conflicts\|requires .*, but you have" || true; }
  export KEEP_SERVER_TEST=1
fi

step "install the wheel"
"${PIP[@]}" --force-reinstall --no-deps "$WHEEL"
if [ -z "${KEEP_SOURCE:-}" ]; then  # Keep's current SDK pins; a source Keep's lock already has them
  "${PIP[@]}" "$WHEEL" "openai==1.37.1" "httpx==0.26.0" 2>&1 | { grep -v "keephq 0.2.7 requires\|dependency resolver\|dependency conflicts" || true; }
fi
"$PY" -c 'import openai, pydantic; print(f"   openai {openai.__version__}, pydantic {pydantic.VERSION}")'
PROVIDERS=$("$PY" -c 'import importlib.util as u; print(list(u.find_spec("keep.providers").submodule_search_locations)[0])')
test -f "$PROVIDERS/openaiassistant_provider/openaiassistant_provider.py" \
  || { echo "FAIL: the wheel did not land in Keep's providers folder $PROVIDERS" >&2; exit 1; }
# -P: not the source tree in the working directory (the package sits at the repository root)
"$PY" -P -c 'import keep_openaiassistant, sys; p = keep_openaiassistant.__file__; assert "site-packages" in p, p; print("   testing", p)'

step "tests/keep against the installed wheel"
# From a scratch directory so that nothing in the source tree shadows the installed package.
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
cp -r tests examples "$RUN/"
(cd "$RUN" && "$PY" -m pytest -q -p no:cacheprovider tests/keep)

step "doctor and the provider module's smoke block"
(cd "$RUN" && "$PY" -m keep_openaiassistant doctor)
(cd "$RUN" && "$PY" -m keep.providers.openaiassistant_provider.openaiassistant_provider "Disk full on db-1" --emulator --json) \
  | "$PY" -c 'import json, sys; r = json.load(sys.stdin); assert r["status"] == "completed", r; print("   smoke:", r["thread_id"], r["status"])'

step "pip uninstall removes the provider; Keep still imports"
"$PY" -m pip uninstall -q -y keep-openaiassistant
"$PY" - "$PROVIDERS" <<'PY'
import importlib, os, sys
providers = sys.argv[1]
entry = os.path.join(providers, "openaiassistant_provider")
left = [os.path.join(d, f) for d, _, fs in os.walk(entry) for f in fs] if os.path.exists(entry) else []
assert not left, f"pip uninstall left {left}"
from keep.providers.providers_factory import ProvidersFactory  # Keep still imports
try:
    ProvidersFactory.get_provider_class("openaiassistant")
except ModuleNotFoundError:
    print("   provider gone; Keep imports; 'openaiassistant' no longer resolves")
else:
    raise SystemExit("FAIL: 'openaiassistant' still resolves after pip uninstall")
PY
step "keep integration passed"
