#!/usr/bin/env bash
# What the test suite needs from Debian besides Python packages: Chromium (browser tests) and the PostgreSQL
# server (storage tests). Installed with apt-get when missing; where that is not possible the tests that need
# them skip and say why.
set -uo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo -n apt-get)
else
  echo "test-deps: cannot install ${need[*]} (not root, no password-less sudo); those tests will skip" >&2
  exit 0
fi
echo "test-deps: installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq >/dev/null 2>&1 || true
"${apt[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
  echo "test-deps: apt-get could not install ${need[*]}; those tests will skip" >&2
exit 0
