"""The one documented fine-tuning config. Its field metadata drives the page's form, the CLI options
(`--learning-rate` for `learning_rate`) and the `config.json` saved in the run folder.

Metadata keys: help (one sentence), min/max (numbers), choices, advanced (folded away in the form),
section (form grouping), flag (the CLI option when it is not --field-name, e.g. --training-method: sweeps own
--method).
"""
from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

FORMATS = ("auto", "chat", "prompt_completion", "instruction_response")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
BATCHING = ("padding_free", "padded")
METHODS = ("sft", "dpo")


def _f(default=MISSING, **meta):
    return field(default=default, metadata=meta) if default is not MISSING else field(metadata=meta)


@dataclass(frozen=True)
class FinetuneConfig:
    # --- what to train ---
    base_model: str = _f(help="Registered local chat model to adapt.", section="Data and model")
    dataset: str = _f(help="Training dataset version, NAME or NAME@VERSION.", section="Data and model")
    method: str = _f("sft", help="sft: supervised fine-tuning on conversations; dpo: preference tuning (DPO) on "
                                 "prompt / chosen / rejected pairs, e.g. exported from an annotation project.",
                     choices=METHODS, section="Data and model", flag="--training-method")
    format: str = _f("auto", help="How rows become conversations; auto detects chat messages, prompt/completion or "
                                  "instruction/response columns.", choices=FORMATS, section="Data and model")
    messages_column: str = _f("", help="Column holding chat messages (chat format; detected when empty).",
                              section="Data and model", advanced=True)
    prompt_column: str = _f("", help="Column holding the prompt or instruction (detected when empty).",
                            section="Data and model", advanced=True)
    response_column: str = _f("", help="Column holding the completion or response (detected when empty).",
                              section="Data and model", advanced=True)
    eval_dataset: str = _f("", help="Separate evaluation dataset version; empty to split the training data.",
                           section="Data and model")
    validation_share: float = _f(0.1, help="Share of training rows held out for evaluation when no evaluation "
                                           "dataset is given (0 for none).", min=0.0, max=0.5, section="Data and model")
    adapter_name: str = _f("", help="Name of the adapter in the model registry; empty for BASE-ft-JOB.",
                           section="Data and model")
    # --- LoRA ---
    lora_r: int = _f(16, help="LoRA rank: the adapter's capacity.", min=1, max=256, section="LoRA")
    lora_alpha: int = _f(32, help="LoRA scaling; alpha / r multiplies the adapter's update.", min=1, max=1024,
                         section="LoRA")
    lora_dropout: float = _f(0.05, help="Dropout on the adapter's input.", min=0.0, max=0.5, section="LoRA")
    target_modules: str = _f("auto", help="Comma-separated module names to adapt; auto picks the attention and MLP "
                                          "projections of the architecture.", section="LoRA", advanced=True)
    qlora: bool = _f(False, help="Load the base model in 4-bit NF4 (bitsandbytes) to save GPU memory; needs CUDA.",
                     section="LoRA")
    dpo_beta: float = _f(0.1, help="DPO only: how far the adapter may move from the base model (higher keeps it "
                                   "closer).", min=0.001, max=10.0, section="LoRA", advanced=True)
    # --- optimisation ---
    learning_rate: float = _f(2e-4, help="Peak learning rate.", min=1e-7, max=1.0, section="Optimisation")
    lr_scheduler: str = _f("cosine", help="How the learning rate changes after warm-up.", choices=SCHEDULERS,
                           section="Optimisation", advanced=True)
    warmup_ratio: float = _f(0.03, help="Share of steps spent warming the learning rate up.", min=0.0, max=0.5,
                             section="Optimisation", advanced=True)
    epochs: float = _f(1.0, help="Passes over the training data (ignored when max steps is set).", min=0.01,
                       max=100.0, section="Optimisation")
    max_steps: int = _f(0, help="Optimizer steps to run; 0 means as many as the epochs need.", min=0, max=1_000_000,
                        section="Optimisation")
    batch_size: int = _f(4, help="Sequences per device per step.", min=1, max=512, section="Optimisation")
    gradient_accumulation: int = _f(1, help="Steps whose gradients add up before each optimizer update.", min=1,
                                    max=512, section="Optimisation")
    max_seq_length: int = _f(512, help="Longest sequence in tokens; longer examples are truncated.", min=16,
                             max=131_072, section="Optimisation")
    batching: str = _f("padding_free", help="padding_free puts a batch's examples in one row with positions "
                                            "restarting per example and attention kept inside each example, so no "
                                            "padding is computed; padded pads every batch to its longest example.",
                       choices=BATCHING, section="Optimisation", advanced=True)
    gradient_checkpointing: bool = _f(False, help="Recompute activations in the backward pass: less memory, about "
                                                  "30% slower.", section="Optimisation", advanced=True)
    precision: str = _f("auto", help="auto picks bf16 on GPUs that support it, else fp16 on CUDA, fp32 on CPU.",
                        choices=PRECISIONS, section="Optimisation", advanced=True)
    seed: int = _f(42, help="Random seed for the split, initialisation and data order.", min=0, max=2**31 - 1,
                   section="Optimisation", advanced=True)
    # --- checkpoints and logging ---
    eval_steps: int = _f(50, help="Evaluate every this many steps (0: only at the end).", min=0, max=1_000_000,
                         section="Checkpoints")
    save_steps: int = _f(50, help="Save a resumable checkpoint every this many steps.", min=1, max=1_000_000,
                         section="Checkpoints")
    logging_steps: int = _f(1, help="Record loss and learning rate every this many steps.", min=1, max=10_000,
                            section="Checkpoints", advanced=True)
    gpus: int = _f(1, help="GPUs for this job (several run data parallel); ignored on a machine without CUDA.",
                   min=0, max=64, section="Checkpoints", advanced=True)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            label = _in_sentence(f.name)
            if f.type in ("int", "float") or isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                        (isinstance(value, float) and not math.isfinite(value)):
                    raise InvalidInput(f"The {label} must be a number, not {value!r}.")
                if f.type == "int" and not float(value).is_integer():
                    raise InvalidInput(f"The {label} must be a whole number, not {value}.")
                low, high = f.metadata.get("min"), f.metadata.get("max")
                if low is not None and value < low or high is not None and value > high:
                    raise InvalidInput(f"The {label} must be between {low:g} and {high:g}, not {value:g}.")
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise InvalidInput(f"The {label} must be one of {', '.join(choices)}, not {value!r}.")
        if not str(self.base_model).strip():
            raise InvalidInput("Choose the base model to fine-tune.")
        if not str(self.dataset).strip():
            raise InvalidInput("Choose the training dataset version.")
        if self.lora_alpha < self.lora_r / 8:
            raise InvalidInput(f"A LoRA alpha of {self.lora_alpha} with rank {self.lora_r} scales the adapter down to "
                               "almost nothing; use an alpha of at least r / 8 (commonly r or 2r).")

    # --- conversions -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FinetuneConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInput(f"Unknown fine-tuning setting(s): {', '.join(unknown)}.")
        coerced = {k: _coerce(k, v) for k, v in values.items()}
        return cls(**coerced)

    @classmethod
    def load(cls, path: str | Path) -> "FinetuneConfig":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"The config file {path} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The config file {path} is not valid JSON ({exc}).") from None
        if not isinstance(values, dict):
            raise InvalidInput(f"The config file {path} must hold a JSON object of settings.")
        return cls.from_dict(values)

    def with_changes(self, **changes) -> "FinetuneConfig":
        return replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    @property
    def target_module_list(self) -> list[str] | None:
        if self.target_modules.strip().lower() in ("", "auto"):
            return None
        return [m.strip() for m in self.target_modules.split(",") if m.strip()]

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.gradient_accumulation


def _coerce(name: str, value: Any) -> Any:
    """Values from JSON, forms and the command line to the field's type; a wrong type is one sentence."""
    if name not in FIELDS:
        raise InvalidInput(f"Unknown fine-tuning setting: {name}.")
    f = FIELDS[name]
    label = _in_sentence(name)
    try:
        if f.type == "bool":
            if isinstance(value, str):
                if value.strip().lower() in ("1", "true", "yes", "on"):
                    return True
                if value.strip().lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if f.type == "int":
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value) if isinstance(value, str) else value
        if f.type == "float":
            return float(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"The {label} must be {_kind(f.type)}, not {value!r}.") from None


def _kind(type_name: str) -> str:
    return {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(type_name, "text")


FIELDS = {f.name: f for f in fields(FinetuneConfig)}
_LABELS = {"lora_r": "LoRA rank (r)", "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout",
           "qlora": "QLoRA (4-bit NF4)", "lr_scheduler": "Learning-rate schedule", "max_seq_length": "Max sequence length",
           "eval_steps": "Eval steps", "save_steps": "Save steps", "gpus": "GPUs"}


def _in_sentence(name: str) -> str:
    label = label_of(name)
    first = label.split()[0]
    return label if any(ch.isupper() for ch in first[1:]) else label[0].lower() + label[1:]


def label_of(name: str) -> str:
    """The form and error label of a field: 'learning_rate' -> 'Learning rate'."""
    return _LABELS.get(name) or name.replace("_", " ").capitalize()

PRESETS: dict[str, dict[str, Any]] = {
    "quick check": {"lora_r": 8, "lora_alpha": 16, "learning_rate": 3e-4, "max_steps": 30, "max_seq_length": 256,
                    "eval_steps": 10, "save_steps": 10, "batch_size": 4, "gradient_accumulation": 1},
    "balanced": {"lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-4, "max_steps": 0, "epochs": 1.0,
                 "max_seq_length": 1024, "eval_steps": 50, "save_steps": 50, "batch_size": 4,
                 "gradient_accumulation": 4},
    "quality": {"lora_r": 64, "lora_alpha": 128, "learning_rate": 1e-4, "max_steps": 0, "epochs": 3.0,
                "max_seq_length": 2048, "eval_steps": 100, "save_steps": 100, "batch_size": 4,
                "gradient_accumulation": 8, "lora_dropout": 0.1},
}
PRESET_HELP = {
    "quick check": "30 steps at rank 8: proves the data, model and settings work end to end in minutes.",
    "balanced": "One epoch at rank 16 with an effective batch of 16: a sensible first real run.",
    "quality": "Three epochs at rank 64 with longer sequences: slower, for the run you mean to ship.",
}


def from_preset(preset: str, **values) -> FinetuneConfig:
    if preset not in PRESETS:
        raise InvalidInput(f"'{preset}' is not a preset; choose one of {', '.join(PRESETS)}.")
    return FinetuneConfig.from_dict({**PRESETS[preset], **values})
