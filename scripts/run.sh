#!/usr/bin/env bash
# `make run`: initialise the home, seed the demo on the first run, print the logins, start the app.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
wb=.venv/bin/workbench
home=${WORKBENCH_HOME:-$HOME/.workbench}

$wb init
if [ ! -f "$home/demo_logins.txt" ]; then
  $wb demo seed
fi
port=${WORKBENCH_PORT:-8501}
echo
echo "  LLMOps Workbench: http://localhost:$port"
if [ -f "$home/initial_admin_password.txt" ]; then
  echo "  First admin:      user 'admin', password '$(sed -n 2p "$home/initial_admin_password.txt")'"
  echo "                    (from $home/initial_admin_password.txt; change it on the Account page)"
fi
if [ -f "$home/demo_logins.txt" ]; then
  echo "  Demo accounts:    $(tail -n +2 "$home/demo_logins.txt" | awk -F'\t' '{printf "%s (%s) %s   ", $1, $2, $3}')"
fi
echo
exec $wb run --port "$port"
