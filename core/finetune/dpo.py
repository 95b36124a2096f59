"""Preference tuning (DPO): TRL's DPOTrainer with a LoRA adapter, from a dataset version of preference pairs.

Rows hold `prompt`, `chosen` and `rejected`, either in TRL's conversational form (lists of chat messages, what
`workbench feedback export --format dpo` writes) or as plain strings. The reference model is the base model
itself (the adapter switched off), so no second copy is loaded. Metrics go to the run folder's metrics.jsonl
as the supervised path writes them, with DPO's reward margin and accuracy beside the loss, so the fine-tune
page's live charts and the job's heartbeat show them.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InvalidInput
from core.finetune.config import FinetuneConfig
from core.finetune.train import (
    Report,
    TrainResult,
    _gpu_memory_gb,
    default_target_modules,
    last_checkpoint,
    load_base,
    precision_flags,
)

COLUMNS = ("prompt", "chosen", "rejected")
# TRL's log keys -> the names in metrics.jsonl and the job's heartbeat.
LOGGED = {"loss": "loss", "eval_loss": "eval_loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
          "rewards/chosen": "reward_chosen", "rewards/rejected": "reward_rejected",
          "rewards/margins": "reward_margin", "rewards/accuracies": "reward_accuracy",
          "eval_rewards/margins": "eval_reward_margin", "eval_rewards/accuracies": "eval_reward_accuracy"}


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _messages(value: Any, role: str) -> list[dict[str, str]]:
    value = _plain(value)
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise ValueError


def preference_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as TRL conversational preference examples; a row that is neither form is one sentence."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(f"Preference tuning needs prompt, chosen and rejected columns; this dataset lacks "
                           f"{', '.join(missing)} (export one with `workbench feedback export --format dpo`).")
    rows = []
    for position, row in enumerate(frame[list(COLUMNS)].itertuples(index=False)):
        try:
            rows.append({"prompt": _messages(row.prompt, "user"), "chosen": _messages(row.chosen, "assistant"),
                         "rejected": _messages(row.rejected, "assistant")})
        except ValueError:
            raise InvalidInput(f"Row {position + 1} is not a preference pair: prompt, chosen and rejected must be "
                               "text or lists of chat messages.") from None
    if not rows:
        raise InvalidInput("The preference dataset holds no rows.")
    return rows


def split(rows: list[dict], eval_rows: list[dict] | None, share: float, seed: int) -> tuple[list[dict], list[dict]]:
    if eval_rows is not None:
        return rows, eval_rows
    if share <= 0 or len(rows) < 10:
        return rows, []
    import random

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(round(len(rows) * share)))
    held = set(order[:cut])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def train_dpo(*, base_path: str, frame: pd.DataFrame, eval_frame: pd.DataFrame | None, tokenizer,
              config: FinetuneConfig, run_dir: Path, report: Report, resume: bool = False) -> TrainResult:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    rows = preference_rows(frame)
    train_rows, eval_rows = split(rows, preference_rows(eval_frame) if eval_frame is not None else None,
                                  config.validation_share, config.seed)
    cuda = torch.cuda.is_available()
    flags = precision_flags(config, cuda)
    torch.manual_seed(config.seed)
    # DPO batches pairs of padded sequences; the padding-free attention of the supervised path does not apply.
    model = load_base(base_path, config.with_changes(batching="padded"), cuda, flags)
    model.config.use_cache = False
    targets = config.target_module_list or default_target_modules(model)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM", bias="none")
    checkpoints = run_dir / "checkpoints"
    has_eval = bool(eval_rows)
    args = DPOConfig(
        output_dir=str(checkpoints), beta=config.dpo_beta, max_length=config.max_seq_length,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation, learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_ratio, num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, logging_steps=config.logging_steps,
        eval_strategy="steps" if has_eval and config.eval_steps else "no", eval_steps=config.eval_steps or None,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=3, seed=config.seed,
        data_seed=config.seed, gradient_checkpointing=config.gradient_checkpointing, report_to=[],
        run_name=run_dir.name, use_cpu=not cuda, dataloader_num_workers=0, disable_tqdm=True,
        logging_first_step=True, **flags)
    metrics_file = run_dir / "metrics.jsonl"
    state: dict[str, Any] = {"started": time.perf_counter(), "stopped": False, "last_beat": 0.0, "last": {}}

    class Reporter(TrainerCallback):
        def on_train_begin(self, args, trainer_state, control, **kwargs):
            if not report({"max_steps": trainer_state.max_steps, "step": trainer_state.global_step}):
                state["stopped"] = control.should_training_stop = True

        def on_log(self, args, trainer_state, control, logs=None, **kwargs):
            row = {"step": trainer_state.global_step, "epoch": round(trainer_state.epoch or 0, 4),
                   "time_s": round(time.perf_counter() - state["started"], 3)}
            for key, name in LOGGED.items():
                value = (logs or {}).get(key)
                if value is not None and math.isfinite(float(value)):
                    row[name] = float(value)
            if (memory := _gpu_memory_gb()) is not None:
                row["gpu_memory_gb"] = memory
            if len(row) <= 3:
                return
            state["last"].update({k: v for k, v in row.items() if k.startswith("reward")})
            with metrics_file.open("a") as out:
                out.write(json.dumps(row) + "\n")
            if not report({**row, "max_steps": trainer_state.max_steps}):
                state["stopped"] = control.should_training_stop = True

        def on_step_end(self, args, trainer_state, control, **kwargs):
            now = time.perf_counter()
            if now - state["last_beat"] >= 5:
                state["last_beat"] = now
                if not report({"step": trainer_state.global_step, "max_steps": trainer_state.max_steps}):
                    state["stopped"] = control.should_training_stop = True

    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(eval_rows) if has_eval else None,
                         processing_class=tokenizer, peft_config=lora, callbacks=[Reporter()])
    resume_from = last_checkpoint(checkpoints) if resume else None
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    runtime = time.perf_counter() - started
    final: dict[str, Any] = {"method": "dpo", "train_loss": round(float(output.training_loss), 5),
                             "steps": trainer.state.global_step, "runtime_s": round(runtime, 2),
                             "train_pairs": len(train_rows), "eval_pairs": len(eval_rows),
                             "resumed_from": resume_from.name if resume_from else None, "target_modules": targets,
                             **{k: round(v, 5) for k, v in state["last"].items()}}
    if has_eval and not state["stopped"]:
        evaluated = trainer.evaluate()
        for key, name in (("eval_loss", "eval_loss"), ("eval_rewards/margins", "eval_reward_margin"),
                          ("eval_rewards/accuracies", "eval_reward_accuracy")):
            if key in evaluated:
                final[name] = round(float(evaluated[key]), 5)
    if (memory := _gpu_memory_gb()) is not None:
        final["peak_gpu_memory_gb"] = memory
    adapter_dir = run_dir / "adapter"
    if not state["stopped"]:
        trainer.model.save_pretrained(adapter_dir, safe_serialization=True)
        tokenizer.save_pretrained(adapter_dir)
    return TrainResult(adapter_dir=adapter_dir, metrics=final, stopped=state["stopped"])
