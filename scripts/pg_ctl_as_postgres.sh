#!/usr/bin/env bash
# pg_ctl, run as an unprivileged user when called as root.
#
# PostgreSQL refuses to run as root, so the test suite (tests/conftest.py) hands this script to
# pytest-postgresql's executor in place of pg_ctl. As root it switches to the `postgres` system
# user (override with PLEDGE_PG_USER) and runs the real pg_ctl with the same arguments; as any
# other user it simply execs pg_ctl. All paths passed to it must be absolute (as root it runs
# from /, because the caller's working directory may not be readable by that user), and the
# data/socket directories' parent must be owned by that user.
#
# The real pg_ctl: $PLEDGE_PG_CTL, else `pg_config --bindir`/pg_ctl, else the newest
# /usr/lib/postgresql/*/bin/pg_ctl, else pg_ctl on PATH.
set -euo pipefail

die() {
  printf 'pg_ctl_as_postgres: %s\n' "$*" >&2
  exit 1
}

find_pg_ctl() {
  local dir candidate
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [[ -n $dir && -x $dir/pg_ctl ]]; then
      echo "$dir/pg_ctl"
      return 0
    fi
  fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -rV); do
    if [[ -x $candidate ]]; then
      echo "$candidate"
      return 0
    fi
  done
  command -v pg_ctl
}

pg_ctl="${PLEDGE_PG_CTL:-}"
if [[ -z $pg_ctl ]]; then
  pg_ctl=$(find_pg_ctl) ||
    die "pg_ctl not found; install PostgreSQL (scripts/ensure-system-deps.sh) or set PLEDGE_PG_CTL"
fi
[[ -x $pg_ctl ]] || die "$pg_ctl is not an executable pg_ctl"

if [[ $(id -u) -ne 0 ]]; then
  exec "$pg_ctl" "$@"
fi

user="${PLEDGE_PG_USER:-postgres}"
[[ $user != root ]] || die "PLEDGE_PG_USER must not be root: PostgreSQL refuses to run as root"
id -u "$user" >/dev/null 2>&1 ||
  die "system user '$user' does not exist; install the postgresql package (scripts/ensure-system-deps.sh) or set PLEDGE_PG_USER"

cd /
if command -v runuser >/dev/null 2>&1; then
  exec runuser -u "$user" -- "$pg_ctl" "$@"
fi
exec setpriv --reuid="$user" --regid="$user" --init-groups -- "$pg_ctl" "$@"
