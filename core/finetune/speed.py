"""How fast this machine fine-tunes: a short real measurement of the job's own steps, kept per machine.

Pre-flight estimates come from here rather than from a guess of the hardware's FLOPs: the base model is loaded
as the job loads it, wrapped in the same LoRA, fed micro-batches of the job's own examples (tokenised as the
job tokenises them, padded or padding-free as configured) and timed for a few optimizer steps, plus one
evaluation batch and one adapter save. The Python start-up of a job process (torch, transformers and peft
imports) is timed once in a fresh interpreter. Results are cached in the workbench home per device class
(the GPU's name, or the CPU with its core count), model, dataset version and batch shape, so only the first
check of a new shape pays for it (a model load and four training steps).
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.files import write_atomically
from core.finetune.config import FinetuneConfig

CACHE_FILE = "finetune_speed.json"
SAMPLE_ROWS = 256  # rows tokenised for the measurement
TIMED_STEPS = 3  # micro-steps timed after one warm-up step
# Starting the job process and the worker noticing it; checkpoint metadata, registration of the adapter.
FIXED_OVERHEAD_S = 4.0


@dataclass(frozen=True)
class Measurement:
    device: str  # "NVIDIA H200", "CPU (2 cores)"
    micro_step_s: float  # one forward + backward of one micro-batch, with the optimizer step
    eval_batch_s: float  # one evaluation forward of one batch
    load_s: float  # loading the base model and wrapping it in LoRA
    save_s: float  # saving the adapter once
    tokenize_row_s: float  # tokenising one row of the dataset
    import_s: float  # a fresh Python importing torch, transformers and peft
    measured_at: float

    def describe(self) -> str:
        return (f"measured on this machine ({self.device}): {self.micro_step_s:.2f} s per micro-batch step, "
                f"{self.import_s + self.load_s:.0f} s to start the job process and load the model")


def device_class(devices: list[dict[str, Any]]) -> str:
    if devices:
        return str(devices[0]["name"])
    return f"CPU ({os.cpu_count() or 1} cores, {platform.machine()})"


def _key(device: str, model: str, dataset_sha: str, config: FinetuneConfig) -> str:
    shape = (config.batch_size, config.max_seq_length, config.lora_r, config.batching, config.precision,
             config.gradient_checkpointing, config.qlora, config.target_modules)
    return json.dumps([device, model, dataset_sha, *shape])


def _cache(home: Path) -> dict[str, Any]:
    try:
        return json.loads((home / "cache" / CACHE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save(home: Path, cache: dict[str, Any]) -> None:
    (home / "cache").mkdir(parents=True, exist_ok=True)
    write_atomically(home / "cache" / CACHE_FILE, json.dumps(cache, indent=1, sort_keys=True))


def import_seconds(home: Path) -> float:
    """How long a fresh job process takes to import its libraries (once per machine and Python)."""
    cache = _cache(home)
    key = f"import:{sys.executable}"
    if key not in cache:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, transformers, peft, accelerate"], check=False,
                       capture_output=True, timeout=300)
        cache[key] = round(time.perf_counter() - started, 2)
        _save(home, cache)
    return float(cache[key])


def measured(home: Path, *, device: str, model: str, dataset_sha: str, config: FinetuneConfig) -> Measurement | None:
    entry = _cache(home).get(_key(device, model, dataset_sha, config))
    return Measurement(**entry) if entry else None


def measure(home: Path, *, base_path: str, model: str, dataset_sha: str, frame, config: FinetuneConfig,
            devices: list[dict[str, Any]]) -> Measurement:
    """Times the job's own steps on this machine (see the module's docstring); cached."""
    device = device_class(devices)
    if (known := measured(home, device=device, model=model, dataset_sha=dataset_sha, config=config)) is not None:
        return known
    imports = import_seconds(home)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from core.finetune.examples import prepare
    from core.finetune.train import (default_target_modules, load_base, padded_collator, padding_free_collator,
                                     precision_flags, trained_positions_only)

    cuda = bool(devices) and torch.cuda.is_available()
    sample = frame.head(SAMPLE_ROWS)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    started = time.perf_counter()
    data = prepare(tokenizer, sample, config)
    tokenize_row_s = (time.perf_counter() - started) / max(len(sample), 1)

    started = time.perf_counter()
    flags = precision_flags(config, cuda)
    torch.manual_seed(config.seed)
    network = load_base(base_path, config, cuda, flags)
    network.config.use_cache = False
    targets = config.target_module_list or default_target_modules(network)
    network = get_peft_model(network, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=targets,
                                             task_type="CAUSAL_LM", bias="none"))
    if config.gradient_checkpointing:
        network.enable_input_require_grads()
        network.gradient_checkpointing_enable()
    if cuda and not config.qlora:
        network.to("cuda")
    load_s = time.perf_counter() - started

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = padding_free_collator() if config.batching == "padding_free" else padded_collator(pad_id)
    examples = data.train + data.eval
    generator = torch.Generator().manual_seed(config.seed)

    def batch():
        picks = torch.randint(len(examples), (min(config.batch_size, len(examples)),), generator=generator).tolist()
        inputs = collate([{"input_ids": examples[i].input_ids, "labels": examples[i].labels} for i in picks])
        inputs = {k: (v.to(network.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
        return trained_positions_only(inputs)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=config.learning_rate)
    network.train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16 if flags["bf16"] else torch.float16) \
        if cuda and (flags["bf16"] or flags["fp16"]) else None
    durations = []
    for step in range(1 + TIMED_STEPS):
        inputs = batch()
        sync()
        started = time.perf_counter()
        if autocast is not None:
            with autocast:
                loss = network(**inputs).loss
        else:
            loss = network(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        if step:  # the first step warms caches and kernels up
            durations.append(time.perf_counter() - started)
    network.eval()
    with torch.no_grad():
        inputs = batch()
        sync()
        started = time.perf_counter()
        network(**inputs)
        sync()
        eval_batch_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        network.save_pretrained(folder, safe_serialization=True)
        save_s = time.perf_counter() - started
    result = Measurement(device=device, micro_step_s=round(sorted(durations)[len(durations) // 2], 4),
                         eval_batch_s=round(eval_batch_s, 4), load_s=round(load_s, 3), save_s=round(save_s, 3),
                         tokenize_row_s=round(tokenize_row_s, 6), import_s=imports, measured_at=time.time())
    del network, optimizer
    cache = _cache(home)
    cache[_key(device, model, dataset_sha, config)] = asdict(result)
    _save(home, cache)
    return result


def seconds(m: Measurement, *, config: FinetuneConfig, steps: int, train_rows: int, eval_rows: int,
            total_rows: int) -> float:
    """The whole job's wall time from a measurement: start-up, tokenising, training, evaluations, checkpoints."""
    train = steps * config.gradient_accumulation * m.micro_step_s
    evaluations = ((steps // config.eval_steps) if config.eval_steps else 0) + 1 if eval_rows else 0
    evaluation = evaluations * math.ceil(eval_rows / config.batch_size) * m.eval_batch_s
    # A checkpoint holds the adapter plus its optimizer state (about three times the adapter).
    saves = (steps // config.save_steps) * 3 * m.save_s + m.save_s
    startup = FIXED_OVERHEAD_S + m.import_s + m.load_s + total_rows * m.tokenize_row_s
    return startup + train + evaluation + saves
