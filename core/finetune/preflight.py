"""Checks before a fine-tune starts, and what it will cost.

Errors stop a doomed run (no data in a trainable format, sequences longer than the model's context,
QLoRA without CUDA, not enough GPU memory); warnings let the user go on (CPU training, rows skipped,
many examples truncated). The time estimate comes from a short real measurement of the job's own steps on this
machine (core/finetune/speed.py, cached per device class) and says how it was made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput, WorkbenchError
from core.finetune.config import FinetuneConfig
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

CPU_FLOPS = 2e10  # what LoRA training of the bundled model reached on a 2-core CPU
GPU_UTILISATION = 0.3


@dataclass(frozen=True)
class Check:
    level: str  # error, warning, info
    message: str


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(c.level == "error" for c in self.checks)

    def add(self, level: str, message: str) -> None:
        self.checks.append(Check(level, message))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.__dict__ for c in self.checks], "estimate": self.estimate}


def cuda_devices() -> list[dict[str, Any]]:
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        return [{"index": i, "name": torch.cuda.get_device_name(i),
                 "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
                for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - a broken driver means no usable GPU, not a crash
        return []


def estimate_memory_gb(parameters: int, config: FinetuneConfig, hidden: int, layers: int) -> float:
    """Weights + LoRA optimizer state + activations, in GiB."""
    weight_bytes = 0.55 if config.qlora else (2 if config.precision != "fp32" else 4)
    weights = parameters * weight_bytes
    lora_params = layers * 7 * 2 * hidden * config.lora_r  # about seven adapted projections per layer
    optimizer = lora_params * 16  # fp32 weights, grads and two Adam moments
    tokens = config.batch_size * config.max_seq_length
    per_layer = tokens * hidden * (34 if not config.gradient_checkpointing else 2)
    activations = per_layer * layers * (2 if config.precision != "fp32" else 4) / 2
    return round((weights + optimizer + activations) * 1.2 / 2**30, 2)


def run(store: Store, *, actor: Actor, config: FinetuneConfig, measure: bool = False) -> Preflight:
    """`measure`: time the job's own steps on this machine when no measurement for this shape is cached yet (the
    page's Check and `workbench finetune check` do; launching reuses what is cached and never waits for one)."""
    require(actor, Permission.LAUNCH_JOBS)
    from core.data import versions
    from core.finetune.examples import resolve_format
    from core.models import registry

    result = Preflight()
    base = None
    try:
        base = registry.get_model(store, actor=actor, name=config.base_model)
    except WorkbenchError as exc:
        result.add("error", exc.message)
    if base is not None:
        if base.task != "chat":
            result.add("error", f"'{base.name}' is an {base.task} model; fine-tune a chat (causal language) model.")
        elif not base.is_local or not base.path:
            result.add("error", f"'{base.name}' is not a local model with weights on this machine; choose a local "
                                "base model (an adapter or endpoint cannot be fine-tuned).")
        if base.context_length and config.max_seq_length > base.context_length:
            result.add("error", f"The max sequence length {config.max_seq_length:,} exceeds {base.name}'s context "
                                f"of {base.context_length:,} tokens.")
    if config.adapter_name.strip():  # checked now, not after an hour of training
        try:
            registry.validate_name(config.adapter_name.strip())
            if registry.is_registered(store, config.adapter_name.strip()):
                result.add("error", f"A model named '{config.adapter_name.strip()}' is already registered; choose "
                                    "another adapter name or leave it empty.")
        except WorkbenchError as exc:
            result.add("error", exc.message.replace("model name", "adapter name"))
    devices = cuda_devices()
    if config.qlora and not devices:
        result.add("error", "QLoRA needs a CUDA GPU and this machine has none; turn QLoRA off to train in full "
                            "precision on CPU.")
    if not devices:
        result.add("warning", "No CUDA GPU here: the job runs on CPU, which suits small models and quick checks.")
    elif config.gpus > len(devices):
        result.add("error", f"The job asks for {config.gpus} GPUs; this machine has {len(devices)}.")

    frame, dataset_sha, eval_rows = None, "", None
    for label, ref in (("training", config.dataset), ("evaluation", config.eval_dataset)):
        if not ref.strip():
            continue
        try:
            version = versions.get_version(store, actor=actor, ref=ref)
            data = versions.load_frame(store, actor=actor, version=version)
            if config.method == "dpo":  # preference pairs, not conversations
                from core.finetune.dpo import preference_rows

                preference_rows(data)
                continue
            report = resolve_format(data, config)
        except InvalidInput as exc:
            result.add("error", f"The {label} data: {exc.message}")
            continue
        except WorkbenchError as exc:
            result.add("error", exc.message)
            continue
        if report.issue_count:
            share = report.issue_count / max(len(data), 1)
            level = "error" if share > 0.5 else "warning"
            result.add(level, f"{report.issue_count:,} of {len(data):,} {label} rows break the {report.format} format "
                              "and will be skipped" + (" — more than half, so the run is stopped." if level == "error"
                                                       else "."))
        if label == "training":
            frame, fmt, dataset_sha = data, report, version.sha256
        else:
            eval_rows = len(data)

    if base is not None and frame is not None and base.path:
        result.estimate = _estimate(store, base, frame, fmt, config, devices, result, dataset_sha=dataset_sha,
                                    eval_rows=eval_rows, measure=measure)
    return result


def _estimate(store: Store, base, frame, fmt, config: FinetuneConfig, devices, result: Preflight, *,
              dataset_sha: str, eval_rows: int | None, measure: bool) -> dict[str, Any]:
    import json
    from pathlib import Path

    from core.data.formats import training_texts

    texts = training_texts(frame, fmt).dropna()
    chars = texts.str.len()
    # About four characters per token for English text; the chat template adds a few tokens per turn.
    tokens = (chars / 4 + 12).clip(upper=config.max_seq_length)
    truncated = float((chars / 4 + 12 > config.max_seq_length).mean()) if len(chars) else 0.0
    if truncated > 0.2:
        result.add("warning", f"About {truncated:.0%} of the examples are longer than {config.max_seq_length:,} "
                              "tokens and will be cut; raise the max sequence length or shorten them.")
    train_rows = len(texts) * (1 - (config.validation_share if not config.eval_dataset else 0))
    steps_per_epoch = max(math.ceil(train_rows / config.effective_batch_size), 1)
    steps = config.max_steps or math.ceil(steps_per_epoch * config.epochs)
    trained_tokens = float(tokens.mean() if len(tokens) else 0) * config.effective_batch_size * steps
    cfg = json.loads((Path(base.path) / "config.json").read_text())
    hidden, layers = int(cfg.get("hidden_size", 1024)), int(cfg.get("num_hidden_layers", 24))
    parameters = base.parameters or 12 * layers * hidden * hidden
    held_out = eval_rows if eval_rows is not None else round(len(texts) * config.validation_share)
    how = "measured"
    try:
        from core.finetune import speed

        load = speed.load_per_core()  # before any measuring, which loads the machine itself
        if measure:
            measurement = speed.measure(store.settings.home, base_path=base.path, model=base.name,
                                        dataset_sha=dataset_sha, frame=frame, config=config, devices=devices,
                                        load=load)
        else:
            measurement = speed.measured(store.settings.home, device=speed.device_class(devices), model=base.name,
                                         dataset_sha=dataset_sha, config=config)
            if measurement is None:
                raise LookupError("not measured yet for these settings; Check measures them")
        measurement = speed.scaled(measurement, load_now=load)
        minutes = speed.seconds(measurement, config=config, steps=steps, train_rows=int(train_rows),
                                eval_rows=int(held_out), total_rows=len(frame)) / 60
        assumes = measurement.describe()
    except Exception as exc:  # noqa: BLE001 - no measurement (a broken model, no memory): a guess, said so
        import logging

        if not isinstance(exc, LookupError):
            logging.getLogger(__name__).warning("could not measure the training speed: %s", exc)
        how = "guessed"
        why = exc if isinstance(exc, LookupError) else f"measuring failed: {exc}"
        flops = 6 * parameters * trained_tokens
        if devices:
            rate = 400e12 * GPU_UTILISATION * min(config.gpus or 1, len(devices))
            assumes = f"a guess from {GPU_UTILISATION:.0%} of a GPU's peak ({why})"
        else:
            rate = CPU_FLOPS
            assumes = f"a guess from a 2-core CPU's speed ({why})"
        minutes = flops / rate / 60
    memory = estimate_memory_gb(parameters, config, hidden, layers)
    if devices:
        smallest = min(d["memory_gb"] for d in devices[:max(config.gpus, 1)])
        if memory > smallest:
            result.add("error", f"The run needs about {memory:.1f} GiB of GPU memory and the GPU has {smallest:.1f} "
                                "GiB; lower the batch size or max sequence length, or turn on QLoRA or gradient "
                                "checkpointing.")
    return {"steps": steps, "trained_tokens": int(trained_tokens), "memory_gb": memory,
            "minutes": round(minutes, 1), "truncated_share": round(truncated, 3), "how": how,
            "assumes": f"about 4 characters per token for the token counts; time {assumes}"}
