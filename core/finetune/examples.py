"""Dataset rows -> conversations -> token ids with labels on the assistant's tokens only.

The loss is computed only where the model should learn to answer: every prompt, system and user token gets
the label -100. The assistant's spans are found by rendering the conversation prefix by prefix with the
model's own chat template, so the split is right for any template that renders prefixes as prefixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.data.formats import SHAREGPT_ROLES, FormatReport, detect_format
from core.errors import InvalidInput
from core.finetune.config import FinetuneConfig

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def resolve_format(frame: pd.DataFrame, config: FinetuneConfig) -> FormatReport:
    """The format and columns to train on: the config's explicit choices, else detection; refuses preference data
    (that is DPO's) and anything unrecognised, with a sentence saying what is expected."""
    report = detect_format(frame, max_issues=50)
    fmt = report.format if config.format == "auto" else config.format
    columns = dict(report.columns) if report.format == fmt else {}
    if fmt == "chat" and config.messages_column:
        columns = {"messages": config.messages_column}
    elif fmt == "prompt_completion" and (config.prompt_column or config.response_column):
        columns = {"prompt": config.prompt_column or columns.get("prompt", ""),
                   "completion": config.response_column or columns.get("completion", "")}
    elif fmt == "instruction_response" and (config.prompt_column or config.response_column):
        columns = {"instruction": config.prompt_column or columns.get("instruction", ""),
                   "response": config.response_column or columns.get("response", "")}
    if fmt == "preference":
        raise InvalidInput("This dataset holds preference pairs (prompt, chosen, rejected); LoRA fine-tuning needs "
                           "chat messages, prompt/completion or instruction/response rows.")
    if fmt == "unknown" or not columns:
        raise InvalidInput("The dataset's training format was not recognised: give it a messages column (chat), "
                           "prompt and completion, or instruction and response columns, or name the columns in the "
                           "config.")
    missing = [c for c in columns.values() if c not in frame.columns]
    if missing:
        raise InvalidInput(f"The dataset has no column named {', '.join(repr(m) for m in missing)}.")
    if report.format != fmt or columns != report.columns:
        report = FormatReport(format=fmt, columns=columns, rows=len(frame))
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def conversation_of(row: pd.Series, report: FormatReport) -> list[dict[str, str]] | None:
    """The chat messages one row stands for; None for a row that does not fit the format."""
    cols = report.columns
    if report.format == "chat":
        messages = _plain(row[cols["messages"]])
        if not isinstance(messages, list) or not messages:
            return None
        out = []
        for m in messages:
            if not isinstance(m, dict):
                return None
            role = m.get("role", SHAREGPT_ROLES.get(m.get("from", ""), m.get("from")))
            content = m.get("content", m.get("value"))
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                return None
            out.append({"role": role, "content": content})
        return out if any(m["role"] == "assistant" and m["content"].strip() for m in out) else None
    if report.format == "prompt_completion":
        prompt, answer = row[cols["prompt"]], row[cols["completion"]]
    else:
        prompt, answer = row[cols["instruction"]], row[cols["response"]]
        extra = row[cols["input"]] if "input" in cols else None
        if isinstance(extra, str) and extra.strip() and isinstance(prompt, str):
            prompt = f"{prompt}\n\n{extra}"
    if not isinstance(prompt, str) or not isinstance(answer, str) or not prompt.strip() or not answer.strip():
        return None
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def _render(tokenizer, messages: list[dict], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)


def tokenize_conversation(tokenizer, messages: list[dict], max_length: int) -> Example:
    """Token ids of the whole conversation and labels that are -100 outside the assistant's replies."""
    full = _render(tokenizer, messages, generation_prompt=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start_text = _render(tokenizer, messages[:i], generation_prompt=True)
        end_text = _render(tokenizer, messages[:i + 1], generation_prompt=False)
        if not full.startswith(start_text) or not full.startswith(end_text):
            raise InvalidInput("The model's chat template does not render conversations prefix by prefix, so the "
                               "assistant's tokens cannot be told apart; choose another base model.")
        start = len(tokenizer(start_text, add_special_tokens=False)["input_ids"])
        end = len(tokenizer(end_text, add_special_tokens=False)["input_ids"])
        labels[start:end] = ids[start:end]
    ids, labels = ids[:max_length], labels[:max_length]
    return Example(input_ids=ids, labels=labels)


@dataclass(frozen=True)
class PreparedData:
    train: list[Example]
    eval: list[Example]
    format: str
    columns: dict[str, str]
    skipped_rows: list[int]
    truncated: int  # examples cut at max_seq_length

    @property
    def train_tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.train)


def prepare(tokenizer, frame: pd.DataFrame, config: FinetuneConfig, eval_frame: pd.DataFrame | None = None) -> PreparedData:
    """Tokenised train and eval examples; rows that do not fit the format or train nothing are skipped."""
    report = resolve_format(frame, config)

    def convert(source: pd.DataFrame, fmt: FormatReport) -> tuple[list[Example], list[int], int]:
        examples, skipped, truncated = [], [], 0
        for index, (_, row) in enumerate(source.iterrows()):
            messages = conversation_of(row, fmt)
            if messages is None:
                skipped.append(index)
                continue
            example = tokenize_conversation(tokenizer, messages, config.max_seq_length)
            if example.trained_tokens == 0:
                skipped.append(index)
                continue
            truncated += len(example.input_ids) == config.max_seq_length
            examples.append(example)
        return examples, skipped, truncated

    # Unusable rows go first, so the held-out share is a share of examples that can be trained on.
    examples, skipped, truncated = convert(frame, report)
    if eval_frame is not None:
        train = examples
        evaluation, _, _ = convert(eval_frame, resolve_format(eval_frame, config))
    else:
        order = np.random.default_rng(config.seed).permutation(len(examples))
        held = int(round(len(examples) * config.validation_share)) if len(examples) >= 10 else 0
        if config.validation_share and len(examples) >= 10:
            held = max(held, 1)
        evaluation = [examples[i] for i in sorted(order[:held])]
        train = [examples[i] for i in sorted(order[held:])]
    if not train:
        raise InvalidInput("No training example is left: every row is empty or does not fit the format.")
    return PreparedData(train=train, eval=evaluation, format=report.format, columns=report.columns,
                        skipped_rows=skipped, truncated=truncated)
