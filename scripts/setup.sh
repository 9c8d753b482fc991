#!/usr/bin/env bash
# Idempotent setup on a fresh Debian machine: system packages, a virtualenv, the project, its front-end assets.
#   scripts/setup.sh        what the application needs (make run)
#   scripts/setup.sh test   that, plus the test tools: Chromium, Playwright, pm4py, schemathesis… (make test)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-app}
case "$mode" in app|test) ;; *) echo "usage: scripts/setup.sh [app|test]" >&2; exit 2 ;; esac

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

# apt-get that waits for another apt or dpkg process (unattended upgrades, a parallel setup) instead of failing.
apt_get() {
  local attempt
  for attempt in $(seq 1 60); do
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 "$@"; then
      return 0
    fi
    echo "==> apt-get $1 failed (another package manager holding the lock?); retrying in 10 s ($attempt/60)" >&2
    sleep 10
  done
  return 1
}

# fonts-wqy-zenhei: Chinese in contract PDFs and screenshots; poppler-utils and chromium: the tests read PDFs
# back and drive a real browser (Playwright never downloads one here).
wanted=(fonts-wqy-zenhei nodejs npm)
[ "$mode" = test ] && wanted+=(poppler-utils chromium)
need_apt=()
for pkg in "${wanted[@]}"; do
  [ "$pkg" = nodejs ] && command -v node >/dev/null && continue
  [ "$pkg" = npm ] && command -v npm >/dev/null && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  apt_get update -qq
  apt_get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
extras=""
[ "$mode" = test ] && extras="[test]"
stamp=.venv/.baozhuang-installed-$mode
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing baozhuang${extras:+ with its test tools}"
  .venv/bin/pip install -q --upgrade pip 2>/dev/null || true
  .venv/bin/pip install -q -e ".$extras"
  touch "$stamp"
fi

if [ ! -d node_modules/bpmn-js ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing front-end assets from npm (bpmn-js, Chart.js)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi
# The built files the pages load, copied beside the web package (git-ignored) so that a wheel built now carries them.
vendor=webui/static/vendor
for pkg in bpmn-js chart.js; do
  if [ ! -d "$vendor/$pkg" ] || [ "node_modules/$pkg/package.json" -nt "$vendor/$pkg" ]; then
    rm -rf "${vendor:?}/$pkg" && mkdir -p "$vendor/$pkg" && cp -r "node_modules/$pkg/dist/." "$vendor/$pkg/"
  fi
done
bash scripts/assets.sh
