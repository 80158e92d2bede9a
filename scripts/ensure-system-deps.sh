#!/usr/bin/env bash
# Make sure the Debian packages the test suite needs are installed (idempotent).
#
#   chromium          headless browser driven by Playwright (/usr/bin/chromium)
#   postgresql        server binaries (pg_ctl, initdb) for the PostgreSQL test run
#   gettext           msgfmt, used by `django-admin compilemessages`
#   fonts-noto-core   Vietnamese glyphs in browser screenshots
#
# Everything present: prints one "ok" line per package and exits 0 without touching apt.
# Something missing and we are root (or have passwordless sudo): `apt-get update` once, then
# `apt-get install -y --no-install-recommends <missing>`. Otherwise: prints the command to run
# and exits 1.
#
# Usage: scripts/ensure-system-deps.sh [--check]   (--check: report only, never install)
set -euo pipefail

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "ensure-system-deps: unknown argument: $1 (use --check or nothing)" >&2
    exit 2
    ;;
esac

say() { printf 'ensure-system-deps: %s\n' "$*"; }

# Each probe prints where the thing was found and succeeds, or fails silently.
probe_chromium() {
  local c
  for c in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if [[ -n $c && -x $c ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

probe_postgresql() {
  # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin.
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [[ -x $dir/pg_ctl && -x $dir/initdb && -x $dir/postgres ]]; then
      echo "$dir/pg_ctl"
      return 0
    fi
  done
  return 1
}

probe_gettext() {
  command -v msgfmt
}

probe_fonts_noto_core() {
  local f
  for f in /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf \
    /usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf; do
    if [[ -f $f ]]; then
      echo "$f"
      return 0
    fi
  done
  return 1
}

packages=(chromium postgresql gettext fonts-noto-core)
missing=()

check_all() {
  missing=()
  local pkg found
  for pkg in "${packages[@]}"; do
    if found=$("probe_${pkg//-/_}"); then
      say "ok       $pkg ($found)"
    else
      say "missing  $pkg"
      missing+=("$pkg")
    fi
  done
}

check_all
if ((${#missing[@]} == 0)); then
  exit 0
fi

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"

if ((check_only)); then
  say "to install: sudo apt-get update && sudo $install_cmd"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found (not Debian/Ubuntu?); install the equivalent of: ${missing[*]}"
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  say "not root and no passwordless sudo; run: sudo apt-get update && sudo $install_cmd"
  exit 1
fi

# Wait for another apt/dpkg run (e.g. unattended-upgrades) instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive

say "running: apt-get update"
"${sudo[@]}" apt-get "${apt_opts[@]}" update -qq
say "running: $install_cmd"
"${sudo[@]}" apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"

check_all
if ((${#missing[@]} > 0)); then
  say "still missing after apt-get install: ${missing[*]}"
  exit 1
fi
say "all system packages installed"
