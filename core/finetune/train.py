"""One LoRA / QLoRA training run with the Hugging Face Trainer and PEFT, reporting as it goes.

The Trainer gives resumable checkpoints (weights, optimizer, scheduler, RNG and step), evaluation and
gradient accumulation; this module adds what the workbench needs around it: rows to response-only
examples, padding-free batches, default LoRA targets per architecture, and a callback that writes
metrics.jsonl and the job's heartbeat (and stops when the job was cancelled).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, Unavailable
from core.finetune.config import FinetuneConfig
from core.finetune.examples import IGNORE, Example, PreparedData
from core.finetune.speed import runnable_now

# Linear layers LoRA adapts by default, by the names common architectures give them.
KNOWN_TARGETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),  # Llama, Mistral, Qwen, Gemma
    ("c_attn", "c_proj", "c_fc"),  # GPT-2
    ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),  # GPT-NeoX, Falcon
    ("Wqkv", "out_proj", "fc1", "fc2"),  # Phi
)
Report = Callable[[dict[str, Any]], bool]  # metrics -> keep going?


def default_target_modules(model) -> list[str]:
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    names.discard("lm_head")
    for family in KNOWN_TARGETS:
        found = [n for n in family if n in names]
        if len(found) >= 2:
            return found
    if not names:
        raise InvalidInput("The base model has no linear layers LoRA can adapt.")
    return sorted(names)


def last_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that was completely written (trainer state and weights present)."""
    if not folder.is_dir():
        return None
    candidates = []
    for path in folder.glob("checkpoint-*"):
        try:
            step = int(path.name.split("-", 1)[1])
        except ValueError:
            continue
        if (path / "trainer_state.json").is_file() and any(path.glob("adapter_model.safetensors")):
            candidates.append((step, path))
    return max(candidates)[1] if candidates else None


class _Examples:
    """A torch-style dataset over prepared examples (lengths exposed for length grouping)."""

    def __init__(self, examples: list[Example]):
        self.examples = examples

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        e = self.examples[i]
        return {"input_ids": e.input_ids, "labels": e.labels}


def padded_collator(pad_id: int):
    import torch

    def collate(batch):
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def padding_free_collator():
    """All examples of a batch in one row, positions restarting per example: no padding is computed. The
    example boundaries go with the batch, so attention runs inside each example only (core.finetune.attention)."""
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE, return_flash_attn_kwargs=True)


def trained_positions_only(inputs: dict) -> dict:
    """For a padding-free row: project onto the vocabulary only at the positions whose next token is trained.

    The vocabulary projection (and its softmax) is the widest layer of a small model, and the prompt tokens'
    predictions are thrown away by the response-only labels anyway; `logits_to_keep` takes those positions and
    `shift_labels` their targets, so the loss is the same sum over the same tokens. Padded batches (several
    rows with different trained positions) keep the stock path.
    """
    import torch

    labels = inputs.get("labels")
    if labels is None or labels.shape[0] != 1 or "cu_seq_lens_q" not in inputs:
        return inputs
    following = torch.cat([labels[:, 1:], labels.new_full((1, 1), IGNORE)], dim=1)  # what each position predicts
    keep = (following[0] != IGNORE).nonzero().squeeze(1)
    if keep.numel() == 0:
        return inputs
    return {**inputs, "logits_to_keep": keep, "shift_labels": following[:, keep]}


def precision_flags(config: FinetuneConfig, cuda: bool) -> dict[str, bool]:
    import torch

    wanted = config.precision
    if wanted == "auto":
        wanted = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if wanted in ("bf16", "fp16") and not cuda:
        raise InvalidInput(f"{wanted} training needs a CUDA GPU; choose auto or fp32 on this machine.")
    return {"bf16": wanted == "bf16", "fp16": wanted == "fp16"}


def load_base(path: str, config: FinetuneConfig, cuda: bool, flags: dict[str, bool]):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": False, "use_safetensors": True}
    if config.qlora:
        if not cuda:
            raise Unavailable("QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels); turn it off to train on CPU.")
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if flags["bf16"] else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=compute)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    elif flags["bf16"]:
        kwargs["dtype"] = torch.bfloat16
    if config.batching == "padding_free":
        from core.finetune import attention

        kwargs["attn_implementation"] = attention.register()
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    return model


def _report_to(run_dir: Path) -> list[str]:
    """MLflow gets the run too when MLFLOW_TRACKING_URI is set (optional: the workbench works without it)."""
    import importlib.util
    import logging
    import os

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return []
    if importlib.util.find_spec("mlflow") is None:
        logging.getLogger("workbench.finetune").warning(
            "MLFLOW_TRACKING_URI is set but mlflow is not installed; this run is not logged to MLflow.")
        return []
    try:  # an unreachable or refused tracking server must not cost the training run
        import mlflow

        mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any MLflow failure means: train without it, and say so
        logging.getLogger("workbench.finetune").warning(
            "MLflow at %s cannot be used (%s); this run is not logged to MLflow.", os.environ["MLFLOW_TRACKING_URI"],
            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return []
    return ["mlflow"]


@contextmanager
def _mlflow_run(run_dir: Path, config: FinetuneConfig, enabled: bool):
    """One MLflow run for the whole job (training, final evaluation, the workbench config and final figures);
    started here so the Trainer's callback logs into it instead of opening and closing its own."""
    if not enabled:
        yield lambda metrics: None
        return
    import os

    import mlflow

    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "llmops-workbench"))
    with mlflow.start_run(run_name=run_dir.name, tags={"workbench.job": run_dir.name,
                                                       "workbench.run_dir": str(run_dir)}):
        mlflow.log_params({f"workbench.{k}": v for k, v in config.to_dict().items()})
        yield lambda metrics: mlflow.log_metrics({f"final_{k}": float(v) for k, v in metrics.items()
                                                  if isinstance(v, (int, float)) and not isinstance(v, bool)})


def _process_age_s() -> float | None:
    """Seconds since this process started (its imports, model load and tokenising before the first step)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - an unknown start time only means no start-up figure
        return None


def _gpu_memory_gb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


@dataclass
class TrainResult:
    adapter_dir: Path
    metrics: dict[str, Any]
    stopped: bool  # the job was cancelled while training


def train(*, base_path: str, data: PreparedData, tokenizer, config: FinetuneConfig, run_dir: Path,
          report: Report, resume: bool = False) -> TrainResult:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    cuda = torch.cuda.is_available()
    flags = precision_flags(config, cuda)
    torch.manual_seed(config.seed)
    model = load_base(base_path, config, cuda, flags)
    model.config.use_cache = False  # training never reads a KV cache; building one only costs memory
    targets = config.target_module_list or default_target_modules(model)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM", bias="none")
    model = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        model.enable_input_require_grads()

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = padding_free_collator() if config.batching == "padding_free" else padded_collator(pad_id)
    has_eval = bool(data.eval)
    checkpoints = run_dir / "checkpoints"
    report_to = _report_to(run_dir)
    args = TrainingArguments(
        output_dir=str(checkpoints), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_ratio,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1, logging_steps=config.logging_steps,
        eval_strategy="steps" if has_eval and config.eval_steps else "no", eval_steps=config.eval_steps or None,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=3, seed=config.seed,
        data_seed=config.seed, gradient_checkpointing=config.gradient_checkpointing, report_to=report_to,
        run_name=run_dir.name,
        use_cpu=not cuda, dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
        logging_first_step=True, **flags,
    )
    metrics_file = run_dir / "metrics.jsonl"
    state: dict[str, Any] = {"started": time.perf_counter(), "tokens_at": 0, "time_at": time.perf_counter(),
                             "stopped": False, "last_beat": 0.0, "step_at": None, "step_s": [], "startup_s": None,
                             "others": []}

    class Reporter(TrainerCallback):
        def on_train_begin(self, args, trainer_state, control, **kwargs):
            state["tokens_at"], state["time_at"] = trainer.real_tokens, time.perf_counter()
            state["step_at"], state["startup_s"] = time.perf_counter(), _process_age_s()
            if not report({"max_steps": trainer_state.max_steps, "step": trainer_state.global_step}):
                state["stopped"] = control.should_training_stop = True

        def on_log(self, args, trainer_state, control, logs=None, **kwargs):
            now = time.perf_counter()
            elapsed = max(now - state["time_at"], 1e-9)
            row = {"step": trainer_state.global_step, "epoch": round(trainer_state.epoch or 0, 4),
                   "time_s": round(now - state["started"], 3)}
            for key in ("loss", "eval_loss", "learning_rate", "grad_norm"):
                if logs and key in logs and logs[key] is not None and math.isfinite(float(logs[key])):
                    row[key] = float(logs[key])
            if "loss" in row:
                seen = trainer.real_tokens
                row["tokens_per_s"] = round((seen - state["tokens_at"]) / elapsed, 2)
                state["tokens_at"], state["time_at"] = seen, now
            if (memory := _gpu_memory_gb()) is not None:
                row["gpu_memory_gb"] = memory
            with metrics_file.open("a") as out:
                out.write(json.dumps(row) + "\n")
            if not report({**row, "max_steps": trainer_state.max_steps}):
                state["stopped"] = control.should_training_stop = True

        def on_step_end(self, args, trainer_state, control, **kwargs):
            now = time.perf_counter()
            # The job's real pace, for the next pre-flight estimate (core/finetune/speed.py): time between step
            # ends, so an evaluation or checkpoint lands in one interval and the median leaves it out.
            state["step_s"].append(now - state["step_at"])
            state["step_at"] = now
            # The machine's other work meanwhile: between steps this job's compute threads sleep, so every
            # runnable thread but this one is someone else's.
            if (running := runnable_now()) is not None:
                state["others"].append(max(running - 1, 0))
            if now - state["last_beat"] >= 5:
                state["last_beat"] = now
                if not report({"step": trainer_state.global_step, "max_steps": trainer_state.max_steps}):
                    state["stopped"] = control.should_training_stop = True

    class CountingTrainer(Trainer):
        """Counts the real (non-padding) tokens each training step consumes: counted in the step, not in the
        collator, because the data loader prepares a batch ahead."""

        real_tokens = 0

        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs.get("attention_mask")
            self.real_tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            return super().training_step(model, inputs, num_items_in_batch)

        def compute_loss(self, model, inputs, *args, **kwargs):
            return super().compute_loss(model, trained_positions_only(inputs), *args, **kwargs)

    trainer = CountingTrainer(model=model, args=args, train_dataset=_Examples(data.train),
                      eval_dataset=_Examples(data.eval) if has_eval else None, data_collator=collate,
                      callbacks=[Reporter()])
    with _mlflow_run(run_dir, config, "mlflow" in report_to) as log_final:
        resume_from = last_checkpoint(checkpoints) if resume else None
        started = time.perf_counter()
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        runtime = time.perf_counter() - started
        final: dict[str, Any] = {"train_loss": round(float(output.training_loss), 5),
                                 "steps": trainer.state.global_step,
                                 "trained_tokens": trainer.real_tokens, "runtime_s": round(runtime, 2),
                                 "tokens_per_s": round(trainer.real_tokens / runtime, 2) if runtime > 0 else None,
                                 "resumed_from": resume_from.name if resume_from else None,
                                 "target_modules": targets}
        if state["step_s"]:
            final["seconds_per_step"] = round(statistics.median(state["step_s"]), 4)
        if state["others"]:
            final["other_load_per_core"] = round(statistics.mean(state["others"]) / (os.cpu_count() or 1), 2)
        if state["startup_s"] is not None and not resume_from:
            final["startup_s"] = round(state["startup_s"], 2)
        step = trainer.state.global_step
        evaluated = [row["eval_loss"] for row in trainer.state.log_history
                     if row.get("step") == step and "eval_loss" in row]
        if has_eval and not state["stopped"] and evaluated:  # the last step evaluated already: not twice
            final["eval_loss"] = round(float(evaluated[-1]), 5)
        elif has_eval and not state["stopped"]:
            final["eval_loss"] = round(float(trainer.evaluate()["eval_loss"]), 5)
            with metrics_file.open("a") as out:
                out.write(json.dumps({"step": trainer.state.global_step, "eval_loss": final["eval_loss"],
                                      "time_s": round(time.perf_counter() - state["started"], 3)}) + "\n")
        if (memory := _gpu_memory_gb()) is not None:
            final["peak_gpu_memory_gb"] = memory
        log_final(final)
    adapter_dir = run_dir / "adapter"
    if not state["stopped"]:
        model.save_pretrained(adapter_dir, safe_serialization=True)
        tokenizer.save_pretrained(adapter_dir)
    return TrainResult(adapter_dir=adapter_dir, metrics=final, stopped=state["stopped"])


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of metrics.jsonl (a partial last line, being written, is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
