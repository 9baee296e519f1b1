# Sourced by scripts/run and scripts/test: a project virtualenv with the given extras,
# reinstalled only when pyproject.toml changes, so running it again is quick and harmless.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras//,/-}"
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[${extras}]"
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

# The staff console (web/): `npm ci` when its lock file changed, a build when its sources did.
ensure_console() {
  command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 and npm to build the console" >&2; return 1; }
  local lock sources
  lock="$(sha256sum web/package-lock.json | cut -c1-16)"
  if [ "$(cat web/node_modules/.installed 2>/dev/null)" != "$lock" ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > web/node_modules/.installed
  fi
  sources="$(cd web && find src public scripts index.html vite.config.ts tsconfig.json package-lock.json \
    -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [ "$(cat web/dist/.sources 2>/dev/null)" != "$sources" ]; then
    (cd web && npm run --silent build)
    echo "$sources" > web/dist/.sources
  fi
}
