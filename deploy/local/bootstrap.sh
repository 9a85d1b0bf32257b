#!/usr/bin/env bash
# Install what the local stack and the tests need, and nothing when it is all there.
# Idempotent: Debian packages only if missing, the venv's packages only when
# pyproject.toml changed since the last install, npm packages only when the lock changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

STAMPS=.run/bootstrap
say() { echo "bootstrap: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

debian_packages() {
  local wanted=(postgresql mosquitto mosquitto-clients) missing=()
  command -v node >/dev/null || wanted+=(nodejs npm)
  command -v python3.11 >/dev/null || wanted+=(python3.11)
  for pkg in "${wanted[@]}"; do installed "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
  # The package starts its own broker on 1883 where one runs systemd; ours runs from
  # .run/ with the project's config, so the packaged service only steals the port.
  if [[ " ${missing[*]} " == *" mosquitto "* ]] && [ -d /run/systemd/system ]; then
    say "disabling the packaged mosquitto service (the stack runs its own)"
    as_root systemctl disable --now mosquitto || true
  fi
}

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

python_env() {
  local fresh=no
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv (python3.11)"
    if ! python3.11 -m venv .venv 2>/dev/null; then
      # Debian's own python3.11 needs its venv package for ensurepip.
      rm -rf .venv
      if ! installed python3.11-venv; then
        as_root apt-get update -q
        as_root apt-get install -y -q python3.11-venv
      fi
      python3.11 -m venv .venv
    fi
    fresh=yes
  fi
  local want have=""
  want=$(fingerprint pyproject.toml)
  [ -f "$STAMPS/pip" ] && have=$(cat "$STAMPS/pip")
  if [ "$fresh" = yes ] || [ "$want" != "$have" ]; then
    say "installing the project into .venv (pip install -e '.[dev]')"
    # Progress stays visible; the long "already satisfied" list does not.
    .venv/bin/pip install --disable-pip-version-check -e '.[dev]' 2>&1 \
      | { grep -v '^Requirement already satisfied' || true; }
    echo "$want" > "$STAMPS/pip"
  fi
}

npm_packages() {
  local dir=deploy/pglite want have=""
  want=$(fingerprint "$dir/package-lock.json")
  [ -f "$STAMPS/npm" ] && have=$(cat "$STAMPS/npm")
  if [ ! -d "$dir/node_modules" ] || [ "$want" != "$have" ]; then
    say "installing PGlite + TimescaleDB (npm ci in $dir)"
    (cd "$dir" && npm ci --legacy-peer-deps --no-audit --no-fund)
    echo "$want" > "$STAMPS/npm"
  fi
}

mkdir -p "$STAMPS"
debian_packages
python_env
npm_packages
