#!/usr/bin/env bash
# Install what the local stack and the tests need, and nothing when it is all there.
# Idempotent: Debian packages only if missing, the venv's packages only when
# pyproject.toml changed since the last install, TimescaleDB only when asked and missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

STAMPS=.run/bootstrap
say() { echo "bootstrap: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

debian_packages() {
  # chromium: the console's browser tests (Playwright drives Debian's build; never
  # `playwright install`, which downloads one).
  # libpango-1.0-0 and fonts-dejavu-core: WeasyPrint's text layout for the reports (Vietnamese
  # needs a font with its diacritics); poppler-utils: pdftoppm, the reports' page pictures.
  # busybox: the broker image's reload wrapper is tested under Alpine's shell, busybox sh.
  local wanted=(postgresql mosquitto mosquitto-clients chromium libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils busybox) missing=()
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

# TimescaleDB, the production engine, is in no registry these machines reach: build it
# from an unmodified upstream source tarball when IOC_TIMESCALEDB_SOURCE names one and
# it is not installed yet (about 3 minutes on 2 cores). Nothing given: plain PostgreSQL.
timescaledb() {
  local pg_lib=/usr/lib/postgresql/15/lib
  if [ -e "$pg_lib/timescaledb.so" ]; then
    say "TimescaleDB: installed ($(ls "$pg_lib"/timescaledb-2*.so 2>/dev/null | grep -v tsl | head -1 | xargs -r basename))"
    return 0
  fi
  if [ -z "${IOC_TIMESCALEDB_SOURCE:-}" ]; then
    say "TimescaleDB: not installed and IOC_TIMESCALEDB_SOURCE not set: PLAIN POSTGRESQL"
    return 0
  fi
  local src
  src=$(realpath "$IOC_TIMESCALEDB_SOURCE")
  [ -f "$src" ] || { say "IOC_TIMESCALEDB_SOURCE=$IOC_TIMESCALEDB_SOURCE: no such file" >&2; exit 1; }
  local missing=()
  for pkg in postgresql-server-dev-15 cmake gcc make; do installed "$pkg" || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing build tools for TimescaleDB: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}"
  fi
  local build
  build=$(mktemp -d /tmp/ioc-timescaledb.XXXXXX)
  tar xzf "$src" -C "$build" --strip-components=1
  local log="$build/build.log"
  say "building TimescaleDB from $(basename "$src") (about 3 minutes; log: $log)"
  (
    cd "$build"
    # Upstream's bootstrap looks for a git commit to stamp in and says "fatal: not a git
    # repository" a few times: harmless.
    ./bootstrap -DCMAKE_BUILD_TYPE=Release -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF >"$log" 2>&1
    # Progress: cmake's "[ 42%]" lines, one in ten shown.
    if ! make -C build -j"$(nproc)" 2>&1 | tee -a "$log" \
      | grep --line-buffered -o '^\[ *[0-9]*%\]' \
      | awk 'NR % 10 == 1 { printf "bootstrap: TimescaleDB build %s\n", $0; fflush() }'; then
      echo "bootstrap: TimescaleDB build failed; see $log" >&2
      exit 1
    fi
    as_root make -C build install >>"$log" 2>&1
  )
  say "TimescaleDB installed into $pg_lib; clusters started from now on preload it"
  rm -rf "$build"
}

mkdir -p "$STAMPS"
debian_packages
python_env
timescaledb
