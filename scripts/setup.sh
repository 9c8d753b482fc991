#!/usr/bin/env bash
# Idempotent setup on a fresh Debian machine: system packages, a virtualenv, the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# fonts-wqy-zenhei: Chinese in PDFs and screenshots; chromium: the browser tests (never downloaded by Playwright)
for pkg in fonts-wqy-zenhei poppler-utils chromium nodejs npm; do
  [ "$pkg" = nodejs ] && command -v node >/dev/null && continue
  [ "$pkg" = npm ] && command -v npm >/dev/null && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  echo "==> installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.baozhuang-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing baozhuang and its dependencies"
  .venv/bin/pip install -q --upgrade pip 2>/dev/null || true
  .venv/bin/pip install -q -e ".[test]"
  touch "$stamp"
fi

if [ ! -d node_modules/bpmn-js ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing front-end assets from npm (bpmn-js)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi
bash scripts/assets.sh
