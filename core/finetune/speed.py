"""How fast this machine fine-tunes: a short real measurement of the job's own steps, kept per machine.

Pre-flight estimates come from here rather than from a guess of the hardware's FLOPs: the base model is loaded
as the job loads it, wrapped in the same LoRA, fed micro-batches of the job's own examples (tokenised as the
job tokenises them, padded or padding-free as configured) and timed for a few optimizer steps, plus one
evaluation batch and one adapter save. The Python start-up of a job process (torch, transformers and peft
imports) is timed once in a fresh interpreter. Results are cached in the workbench home per device class
(the GPU's name, or the CPU with its core count), model, dataset version and batch shape, so only the first
check of a new shape pays for it (a model load and four training steps).

A cached figure is only as good as the moment it was taken. On a CPU the machine's other work changes the pace
several-fold, so each figure keeps the load it was taken at: Check measures again when the load now would change
the pace by more than a quarter (or the figure is older than a month), and a launch scales the figure to the
load now and says so. Each finished job writes its own real pace back (seconds per micro-batch step, the median
over its steps, and its start-up), so the next estimate for the same settings comes from a whole real job.
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.files import write_atomically
from core.finetune.config import FinetuneConfig

CACHE_FILE = "finetune_speed.json"
SAMPLE_ROWS = 256  # rows tokenised for the measurement
TIMED_STEPS = 3  # micro-steps timed after one warm-up step
# Starting the job process and the worker noticing it; checkpoint metadata, registration of the adapter.
FIXED_OVERHEAD_S = 4.0
MAX_AGE_S = 30 * 86400  # a month: drivers, libraries and the machine itself change
LOAD_TOLERANCE = 1.25  # re-measure when the load now would change the pace by more than this factor


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
    load_per_core: float = 0.0  # the machine's other work when measured (runnable threads per core)
    source: str = "check"  # "check" (the short measurement) or "job 12" (a whole job's real pace)
    scaled_to: float | None = None  # set when the figures were scaled to the load now instead of measured again

    def describe(self) -> str:
        where = (f"from job {self.source.split()[-1]}'s real pace on this machine" if self.source.startswith("job")
                 else "measured on this machine")
        text = (f"{where} ({self.device}, load {self.load_per_core:.1f} per core, "
                f"{_ago(time.time() - self.measured_at)}): {self.micro_step_s:.2f} s per micro-batch step, "
                f"{self.import_s + self.load_s:.0f} s to start the job process and load the model")
        if self.scaled_to is not None:
            text += f"; scaled to the load now ({self.scaled_to:.1f} per core), Check measures again"
        return text


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def runnable_now() -> int | None:
    """Threads ready to run on the whole machine at this instant (Linux's procs_running, the caller included);
    None where the system does not say."""
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("procs_running "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def load_per_core(samples: int = 6, interval_s: float = 0.02) -> float:
    """Other work per core right now: the runnable threads besides the caller, averaged over a tenth of a second
    (every launch's pre-flight reads it, so it stays short). The
    load average would do on other systems, but it trails by minutes: just after a job ends it still counts the
    job, and the estimate would be scaled for a load that is gone."""
    cores = os.cpu_count() or 1
    counts = []
    for i in range(samples):
        if (n := runnable_now()) is None:
            break
        counts.append(max(n - 1, 0))
        if i + 1 < samples:
            time.sleep(interval_s)
    if counts:
        return round(sum(counts) / len(counts) / cores, 2)
    try:
        return round(os.getloadavg()[0] / cores, 2)
    except (AttributeError, OSError):
        return 0.0


def slowdown(load: float) -> float:
    """How much slower a job that wants every core runs beside `load` other runnable threads per core: it gets
    about 1 / (1 + load) of each core."""
    return 1.0 + max(load, 0.0)


def is_current(m: Measurement, *, load_now: float, now: float | None = None) -> bool:
    """Whether a cached figure still describes this machine: young enough and (on a CPU) taken at a load that
    paces a job like the load now. A GPU's pace does not follow the CPU's load."""
    if (now or time.time()) - m.measured_at > MAX_AGE_S:
        return False
    return 1 / LOAD_TOLERANCE <= _pace_change(m, load_now) <= LOAD_TOLERANCE


def _pace_change(m: Measurement, load_now: float) -> float:
    return slowdown(load_now) / slowdown(m.load_per_core) if m.device.startswith("CPU") else 1.0


def scaled(m: Measurement, *, load_now: float) -> Measurement:
    """The figure moved to the load now (the compute parts; imports and saves are mostly disk and stay)."""
    factor = _pace_change(m, load_now)
    if 1 / LOAD_TOLERANCE <= factor <= LOAD_TOLERANCE:
        return m
    return replace(m, micro_step_s=round(m.micro_step_s * factor, 4), eval_batch_s=round(m.eval_batch_s * factor, 4),
                   load_s=round(m.load_s * factor, 3), scaled_to=load_now)


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


def import_seconds(home: Path, *, fresh: bool = False) -> float:
    """How long a fresh job process takes to import its libraries (once per machine and Python, or again when
    `fresh`: the measurement it belongs to is being taken again)."""
    cache = _cache(home)
    key = f"import:{sys.executable}"
    if fresh or key not in cache:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, transformers, peft, accelerate"], check=False,
                       capture_output=True, timeout=300)
        cache[key] = round(time.perf_counter() - started, 2)
        _save(home, cache)
    return float(cache[key])


def measured(home: Path, *, device: str, model: str, dataset_sha: str, config: FinetuneConfig) -> Measurement | None:
    """The cached figure for these settings as it was taken (see `is_current` and `scaled` before using it)."""
    entry = _cache(home).get(_key(device, model, dataset_sha, config))
    if not entry:
        return None
    known = {f for f in Measurement.__dataclass_fields__}
    return Measurement(**{k: v for k, v in entry.items() if k in known})


def measure(home: Path, *, base_path: str, model: str, dataset_sha: str, frame, config: FinetuneConfig,
            devices: list[dict[str, Any]], load: float | None = None) -> Measurement:
    """Times the job's own steps on this machine (see the module's docstring); cached while it stays current."""
    device = device_class(devices)
    known = measured(home, device=device, model=model, dataset_sha=dataset_sha, config=config)
    if load is None:  # taken before measuring: the measurement's own threads are not the machine's other work
        load = load_per_core()
    if known is not None and is_current(known, load_now=load):
        return known
    imports = import_seconds(home, fresh=known is not None)

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
                         tokenize_row_s=round(tokenize_row_s, 6), import_s=imports, measured_at=time.time(),
                         load_per_core=load)
    del network, optimizer
    cache = _cache(home)
    cache[_key(device, model, dataset_sha, config)] = asdict(result)
    _save(home, cache)
    return result


def record_job(home: Path, *, device: str, model: str, dataset_sha: str, config: FinetuneConfig, job_id: int,
               micro_step_s: float, startup_s: float | None, load: float) -> Measurement:
    """A finished job's real pace replaces the cached figure for its settings (the evaluation, save and tokenising
    figures of an earlier Check are kept; a job without one starts from its own figures alone)."""
    cache = _cache(home)
    key = _key(device, model, dataset_sha, config)
    before = cache.get(key) or {"eval_batch_s": micro_step_s / 3, "save_s": 0.5, "tokenize_row_s": 0.0005,
                                "import_s": 0.0, "load_s": 0.0}
    entry = {**before, "device": device, "micro_step_s": round(micro_step_s, 4), "measured_at": time.time(),
             "load_per_core": round(load, 2), "source": f"job {job_id}"}
    if startup_s is not None:  # process start to the first step: imports, model load and tokenising together
        entry["load_s"] = round(max(startup_s - entry["import_s"], 0.0), 3)
        entry["tokenize_row_s"] = 0.0
    entry.pop("scaled_to", None)
    cache[key] = entry
    _save(home, cache)
    return measured(home, device=device, model=model, dataset_sha=dataset_sha, config=config)


def seconds(m: Measurement, *, config: FinetuneConfig, steps: int, train_rows: int, eval_rows: int,
            total_rows: int) -> float:
    """The whole job's wall time from a measurement: start-up, tokenising, training, evaluations, checkpoints."""
    train = steps * config.gradient_accumulation * m.micro_step_s
    # Every eval_steps steps, and once at the end unless the last step was one of those (core/finetune/train.py).
    every = config.eval_steps
    evaluations = ((steps // every + (1 if steps % every else 0)) if every else 1) if eval_rows else 0
    evaluation = evaluations * math.ceil(eval_rows / config.batch_size) * m.eval_batch_s
    # A checkpoint holds the adapter plus its optimizer state (about three times the adapter).
    saves = (steps // config.save_steps) * 3 * m.save_s + m.save_s
    startup = FIXED_OVERHEAD_S + m.import_s + m.load_s + total_rows * m.tokenize_row_s
    return startup + train + evaluation + saves
