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
