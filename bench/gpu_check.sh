#!/usr/bin/env bash
# GPU check, one script for a machine with a CUDA GPU, under 8 minutes on an H100/H200.
#
# Through the workbench's own training code (core.finetune.train.train: Trainer + PEFT, padding-free batches by
# default), LoRA in bf16 and QLoRA (bitsandbytes 4-bit NF4) for a few dozen steps on
#   (a) the bundled SmolLM2-135M-Instruct and
#   (b) a randomly initialised ~1.1B Llama-architecture model (hidden 2048, 22 layers, built in memory, no download),
# printing tokens/s, peak GPU memory and MFU = 4 x params x tokens / time / peak bf16 dense FLOP/s (a LoRA step
# runs the frozen base forward, 2 x params per token, and back to its inputs, 2 x params more; attention scores
# are not counted). Goal: MFU of at least 35% for LoRA on an H100. Then the GPU tests (`pytest -m gpu`) and, when
# time is left, bench/generate.py's batched generation on the GPU. Exits 1 if a measurement failed, 0 otherwise;
# without a CUDA device it says so and exits 0 at once.
#
#   bash bench/gpu_check.sh
#
# Settings (environment): PYTHON (interpreter; default .venv/bin/python when its torch sees CUDA, else python3),
# GPU_PEAK_TFLOPS (peak bf16 dense TFLOP/s of a GPU the built-in table lacks), GPU_CHECK_STEPS (default 30),
# GPU_CHECK_MODEL_DIR (a folder holding the bundled model where the project is not installed),
# GPU_CHECK_BUDGET_S (default 450: phases that would start later are skipped). bitsandbytes is installed from
# PyPI only when missing (pip's own PIP_FIND_LINKS / PIP_NO_INDEX point it at local wheels instead).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET_S:-450}
STEPS=${GPU_CHECK_STEPS:-30}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "gpu_check: no CUDA device (nvidia-smi is missing or lists no GPU); nothing to measure."
  exit 0
fi
echo "== nvidia-smi"
nvidia-smi

cuda_python() { "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; }
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1 && cuda_python "$candidate"; then PY=$candidate; break; fi
  done
fi
if [ -z "$PY" ] || ! cuda_python "$PY"; then
  echo "gpu_check: a GPU is listed, but no Python here has a PyTorch that sees it (.venv/bin/python, python3${PYTHON:+, $PYTHON})." >&2
  echo "  Install a CUDA build in .venv (WORKBENCH_TORCH_INDEX_URL=... make setup) or point PYTHON at one." >&2
  exit 1
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export WORKBENCH_HOME="$WORK/home"
RESULTS="$WORK/results.txt"
: >"$RESULTS"
FAILED=()
SKIPPED=()

# One measurement per process, so each run's peak GPU memory is its own and one failure does not end the rest.
HELPER="$WORK/gpu_bench.py"
cat >"$HELPER" <<'PY'
import argparse, contextlib, os, sys, time, warnings
from pathlib import Path

warnings.filterwarnings("ignore")
# Peak dense bf16 tensor FLOP/s (no sparsity) from NVIDIA's data sheets; first match wins.
PEAK_BF16_TFLOPS = (("GH200", 989), ("H200", 989), ("H100 PCIe", 756), ("H100 NVL", 835), ("H100", 989),
                    ("H800", 989), ("A100", 312), ("A800", 312), ("L40S", 362), ("L4", 121))


def peak_flops(name):
    if os.environ.get("GPU_PEAK_TFLOPS"):
        return float(os.environ["GPU_PEAK_TFLOPS"]) * 1e12, "GPU_PEAK_TFLOPS"
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops * 1e12, f"{key} table entry"
    return None, "not in the table: set GPU_PEAK_TFLOPS"


def info(args):
    import torch, transformers, peft
    name = torch.cuda.get_device_name()
    peak, source = peak_flops(name)
    print(f"{name}; torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
          f"peft {peft.__version__}; peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s ({source})")


def bundled_dir(args):
    folder = os.environ.get("GPU_CHECK_MODEL_DIR")
    if not folder:
        from core.models import bundled
        from core.settings import Settings
        folder = str(bundled.install(Settings.from_env().models_dir, bundled.CHAT_MODEL))
    Path(args.out).write_text(folder)
    print(f"bundled model in {folder}")


def make_llama(args):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config)
    model.save_pretrained(args.out, safe_serialization=True)
    print(f"random Llama: {sum(p.numel() for p in model.parameters()) / 1e6:,.0f}M parameters, bf16, in {args.out}")


class NoTokenizer:  # the random model has no vocabulary; train() only reads the pad id and saves the tokenizer
    pad_token_id, eos_token_id = 0, 2

    def save_pretrained(self, path):
        pass


def run(args):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from core.finetune.config import FinetuneConfig
    from core.finetune.examples import Example, PreparedData
    from core.finetune.train import train

    model_config = AutoConfig.from_pretrained(args.model)
    with torch.device("meta"):
        params = sum(p.numel() for p in AutoModelForCausalLM.from_config(model_config).parameters())
    B, L, S = args.batch, args.seq, args.steps
    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(3, model_config.vocab_size, ((S + 2) * B, L), generator=generator).tolist()
    data = PreparedData(train=[Example(input_ids=r, labels=list(r)) for r in rows], eval=[], format="synthetic",
                        columns={}, skipped_rows=[], truncated=0)
    tokenizer = AutoTokenizer.from_pretrained(args.model) if (Path(args.model) / "tokenizer_config.json").exists() \
        else NoTokenizer()
    config = FinetuneConfig(base_model=args.label, dataset="synthetic", qlora=args.qlora, precision="bf16",
                            batching=args.batching, batch_size=B, gradient_accumulation=1, max_steps=S,
                            max_seq_length=L, validation_share=0.0, eval_steps=0, save_steps=1_000_000,
                            logging_steps=1, seed=0)
    marks = []

    def report(metrics):  # called after every logged step (the Trainer has just read the loss: the GPU is in step)
        if "loss" in metrics:
            torch.cuda.synchronize()
            marks.append((time.perf_counter(), metrics["loss"]))
        return True

    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints a dict per step; keep stdout for figures
        train(base_path=args.model, data=data, tokenizer=tokenizer, config=config, run_dir=Path(args.run_dir),
              report=report)
    warm = min(5, S // 3)  # CUDA context, cuBLAS handles and the allocator settle in the first steps
    seconds = marks[-1][0] - marks[warm - 1][0]
    timed = len(marks) - warm
    tokens_per_s = timed * B * L / seconds
    peak, _ = peak_flops(torch.cuda.get_device_name())
    mfu = f"{4 * params * tokens_per_s / peak:6.1%}" if peak else "   n/a"
    memory = torch.cuda.max_memory_allocated() / 2**30
    method = ("QLoRA 4-bit NF4" if args.qlora else "LoRA bf16") + f", {args.batching.replace('_', '-')}"
    line = (f"{args.label:<24} {method:<30} {tokens_per_s:>10,.0f} tokens/s  peak {memory:6.2f} GiB  MFU {mfu}"
            f"  ({params / 1e6:,.0f}M params, {B}x{L} tokens/step, {timed} timed steps of {S}, "
            f"last loss {marks[-1][1]:.2f})")
    print(line)
    with open(args.results, "a") as out:
        out.write(line + "\n")


parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="command", required=True)
sub.add_parser("info")
p = sub.add_parser("bundled-dir"); p.add_argument("out")
p = sub.add_parser("make-llama"); p.add_argument("out")
p = sub.add_parser("run")
for name in ("model", "label", "run_dir", "results"):
    p.add_argument(f"--{name.replace('_', '-')}", required=True)
p.add_argument("--qlora", action="store_true")
p.add_argument("--batching", default="padding_free", choices=("padding_free", "padded"))
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=1024)
p.add_argument("--steps", type=int, default=30)
args = parser.parse_args()
{"info": info, "bundled-dir": bundled_dir, "make-llama": make_llama, "run": run}[args.command](args)
PY

left() { echo $((BUDGET - (SECONDS - START))); }
# phase NAME CAP_S required|optional COMMAND...: runs COMMAND under a time limit within the budget. A failure
# or time-out of a required phase fails the check; an optional one that does not fit is only skipped.
phase() {
  local name=$1 cap=$2 kind=$3 remaining limit rc
  shift 3
  remaining=$(left)
  if ((remaining < 20)); then
    echo "== $name: not started, the ${BUDGET} s budget is spent"
    if [ "$kind" = required ]; then FAILED+=("$name (no time left)"); else SKIPPED+=("$name (no time left)"); fi
    return 1
  fi
  limit=$((cap < remaining ? cap : remaining))
  echo "== $name (limit ${limit} s, $((SECONDS - START)) s in)"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  if ((rc == 0)); then return 0; fi
  local why="exit status $rc"
  if ((rc == 124 || rc == 137)); then why="stopped after ${limit} s"; fi
  if [ "$kind" = required ]; then FAILED+=("$name ($why)"); else SKIPPED+=("$name ($why)"); fi
  return "$rc"
}

echo "== environment"
"$PY" "$HELPER" info || FAILED+=("environment (PyTorch, transformers or peft missing)")

# GPU tests: only when some test carries the marker (collecting the whole suite needs every project dependency).
if grep -rqE 'mark\.gpu\b' tests 2>/dev/null; then
  # exit status 5 is pytest's "no test selected"
  phase "pytest -m gpu" 150 required bash -c '"$0" -m pytest -m gpu -q -p no:cacheprovider; rc=$?; exit $((rc == 5 ? 0 : rc))' "$PY"
else
  echo "== pytest -m gpu: skipped, no test carries the gpu marker yet"
  SKIPPED+=("pytest -m gpu (no test carries the marker)")
fi

QLORA=1
if ! "$PY" -c 'import bitsandbytes' >/dev/null 2>&1; then
  echo "== bitsandbytes is missing: pip install bitsandbytes"
  timeout 120 "$PY" -m pip install -q --retries 1 --timeout 20 bitsandbytes || true
  if ! "$PY" -c 'import bitsandbytes' >/dev/null 2>&1; then
    QLORA=0
    FAILED+=("QLoRA runs (bitsandbytes is not installed and could not be installed)")
  fi
fi

LLAMA="$WORK/llama-1b"
LLAMA_OK=0
phase "random 1.1B Llama (build and save)" 120 required "$PY" "$HELPER" make-llama "$LLAMA" && LLAMA_OK=1
BUNDLED=""
phase "bundled model (install)" 150 required "$PY" "$HELPER" bundled-dir "$WORK/bundled-dir" &&
  BUNDLED=$(cat "$WORK/bundled-dir")

measure() {  # measure LABEL MODEL_DIR CAP required|optional [helper run options...]
  local label=$1 model=$2 cap=$3 kind=$4
  shift 4
  phase "$label $*" "$cap" "$kind" "$PY" "$HELPER" run --model "$model" --label "$label" \
    --run-dir "$(mktemp -d "$WORK/run.XXXXXX")" --results "$RESULTS" --steps "$STEPS" "$@"
}
# The workbench's default (padding-free) first; the MFU goal is read from the 1.1B LoRA rows.
# The same examples in a plain batch next: all of one length, so there is no padding and causal attention needs
# no mask, while the padding-free row attends over one row of 8 x 1024 tokens through a block mask.
if ((LLAMA_OK)); then
  measure "llama-1.1b-random" "$LLAMA" 150 required --batch 8 --seq 1024
  measure "llama-1.1b-random" "$LLAMA" 120 required --batching padded --batch 8 --seq 1024
  ((QLORA)) && measure "llama-1.1b-random" "$LLAMA" 180 required --qlora --batch 8 --seq 1024
fi
if [ -n "$BUNDLED" ]; then
  measure "smollm2-135m (bundled)" "$BUNDLED" 120 required --batch 8 --seq 1024
  ((QLORA)) && measure "smollm2-135m (bundled)" "$BUNDLED" 120 required --qlora --batch 8 --seq 1024
fi

if [ -n "$BUNDLED" ]; then
  phase "bench/generate.py on the GPU" 170 optional "$PY" bench/generate.py --model-dir "$BUNDLED" ||
    echo "(generate.py did not complete; its figures are missing above)"
else
  SKIPPED+=("bench/generate.py (no bundled model)")
fi

echo
echo "== results ($((SECONDS - START)) s in all; tokens/s and MFU leave out each run's first steps, the warm-up)"
cat "$RESULTS"
for item in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do echo "skipped: $item"; done
for item in "${FAILED[@]+"${FAILED[@]}"}"; do echo "FAILED: $item"; done
if ((${#FAILED[@]})); then exit 1; fi
echo "gpu_check: all measurements ran"
