"""Fine-tuning readiness: which training format a dataset is in, and every row that breaks it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput

CHAT_COLUMNS = ("messages", "conversations", "conversation", "chat")
ROLES = {"system", "user", "assistant", "tool"}
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
MAX_ISSUES = 10_000

FORMAT_LABELS = {
    "chat": "Chat messages",
    "prompt_completion": "Prompt / completion",
    "instruction_response": "Instruction / response",
    "preference": "Preference pairs (prompt / chosen / rejected)",
    "unknown": "No fine-tuning format",
}


@dataclass(frozen=True)
class RowIssue:
    row: int
    problem: str


@dataclass
class FormatReport:
    format: str
    columns: dict[str, str]  # role in the format -> column name
    rows: int
    issues: list[RowIssue] = field(default_factory=list)
    issue_count: int = 0
    explanation: str = ""
    max_issues: int = MAX_ISSUES  # rows listed; issue_count counts them all

    @property
    def label(self) -> str:
        return FORMAT_LABELS[self.format]

    @property
    def ready(self) -> bool:
        return self.format != "unknown" and self.issue_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "label": self.label, "columns": self.columns, "rows": self.rows,
                "ready": self.ready, "issue_count": self.issue_count, "explanation": self.explanation,
                "issues": [{"row": i.row, "problem": i.problem} for i in self.issues[:1000]]}


def _find(frame: pd.DataFrame, *names: str) -> str | None:
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    return next((lowered[n] for n in names if n in lowered), None)


def detect_format(frame: pd.DataFrame, max_issues: int | None = MAX_ISSUES) -> FormatReport:
    """The format and its problem rows; `max_issues` bounds the rows listed (None: all of them)."""
    cap = max_issues if max_issues is not None else 10**12
    chat = _find(frame, *CHAT_COLUMNS)
    if chat:
        return _check_chat(frame, chat, cap)
    prompt, chosen, rejected = _find(frame, "prompt"), _find(frame, "chosen"), _find(frame, "rejected")
    if prompt and chosen and rejected:
        return check_format(frame, "preference", {"prompt": prompt, "chosen": chosen, "rejected": rejected},
                            max_issues=max_issues)
    instruction, response = _find(frame, *INSTRUCTION_NAMES), _find(frame, *RESPONSE_NAMES)
    if instruction and response:
        columns = {"instruction": instruction, "response": response, "input": _find(frame, *INPUT_NAMES) or ""}
        return check_format(frame, "instruction_response", columns, max_issues=max_issues)
    prompt, completion = _find(frame, *PROMPT_NAMES), _find(frame, *RESPONSE_NAMES)
    if prompt and completion:
        return check_format(frame, "prompt_completion", {"prompt": prompt, "completion": completion},
                            max_issues=max_issues)
    return FormatReport(
        format="unknown", columns={}, rows=len(frame),
        explanation="No fine-tuning format recognised: expected a messages column (chat), a prompt column "
                    f"({', '.join(PROMPT_NAMES)}) with a response column ({', '.join(RESPONSE_NAMES)}), instruction "
                    "and response (or output), or prompt, chosen and rejected. Map the columns when their names "
                    "differ.",
    )


# Column names recognised per role, most specific first (case does not matter).
PROMPT_NAMES = ("prompt", "question", "query", "input")
RESPONSE_NAMES = ("completion", "response", "output", "answer")
INSTRUCTION_NAMES = ("instruction",)
INPUT_NAMES = ("input", "context")
# The columns each format needs (an instruction's extra input is optional).
FORMAT_ROLES = {
    "chat": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "instruction_response": ("instruction", "response"),
    "preference": ("prompt", "chosen", "rejected"),
}


def check_format(frame: pd.DataFrame, fmt: str, columns: dict[str, str],
                 max_issues: int | None = MAX_ISSUES) -> FormatReport:
    """Checks every row against a format with the columns given (role -> column name): what the profile finds by
    itself, or a mapping a user chose because the names differ. The fine-tune form reads the same mapping."""
    cap = max_issues if max_issues is not None else 10**12
    if fmt not in FORMAT_ROLES:
        raise InvalidInput(f"'{fmt}' is not a fine-tuning format; choose one of {', '.join(FORMAT_ROLES)}.")
    missing_roles = [role for role in FORMAT_ROLES[fmt] if not columns.get(role)]
    if missing_roles:
        raise InvalidInput(f"Choose a column for {' and '.join(missing_roles)}.")
    unknown = [name for name in columns.values() if name and name not in frame.columns]
    if unknown:
        raise InvalidInput(f"The dataset has no column named {', '.join(repr(u) for u in unknown)}.")
    columns = {role: name for role, name in columns.items() if name}
    if fmt == "chat":
        return _check_chat(frame, columns["messages"], cap)
    required = {role: columns[role] for role in FORMAT_ROLES[fmt]}
    report = _check_text_columns(frame, fmt, required, cap)
    if fmt == "preference":
        chosen, rejected = columns["chosen"], columns["rejected"]
        same = (frame[chosen].astype("string").str.strip() == frame[rejected].astype("string").str.strip()).fillna(False)
        _add(report, np.flatnonzero(same.to_numpy()), "chosen and rejected are the same text")
    if fmt == "instruction_response" and columns.get("input"):
        report.columns["input"] = columns["input"]
    return report


def _add(report: FormatReport, rows, problem: str) -> None:
    rows = list(rows)
    report.issue_count += len(rows)
    room = report.max_issues - len(report.issues)
    report.issues.extend(RowIssue(int(r), problem) for r in rows[:max(room, 0)])


def _check_text_columns(frame: pd.DataFrame, fmt: str, columns: dict[str, str], cap: int) -> FormatReport:
    report = FormatReport(format=fmt, columns=dict(columns), rows=len(frame), max_issues=cap)
    for role, name in columns.items():
        values = frame[name]
        missing = values.isna().to_numpy()
        _add(report, np.flatnonzero(missing), f"{role} ({name}) is missing")
        is_text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(True).astype(bool).to_numpy()
        _add(report, np.flatnonzero(~is_text), f"{role} ({name}) is not text")
        blank = values.astype("string").str.strip().eq("").fillna(False).to_numpy() & ~missing
        _add(report, np.flatnonzero(blank), f"{role} ({name}) is empty")
    report.issues.sort(key=lambda i: i.row)
    report.explanation = f"{report.issue_count:,} problem(s) in {len(frame):,} rows." if report.issue_count else "Every row fits."
    return report


def chat_problems(messages: Any) -> list[str]:
    """What is wrong with one conversation, in words; empty when it is a valid training example."""
    if isinstance(messages, np.ndarray):
        messages = messages.tolist()
    if not isinstance(messages, list):
        return ["messages is not a list of {role, content} objects"]
    if not messages:
        return ["the conversation is empty"]
    problems, roles = [], []
    for position, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            problems.append(f"message {position} is not an object with role and content")
            continue
        role = message.get("role", SHAREGPT_ROLES.get(message.get("from", ""), message.get("from")))
        content = message.get("content", message.get("value"))
        if role not in ROLES:
            problems.append(f"message {position} has an unknown role {role!r}")
        if not isinstance(content, str) or not content.strip():
            problems.append(f"message {position} ({role}) has no text")
        roles.append(role)
    if problems:
        return problems
    if "system" in roles[1:]:
        problems.append("a system message appears after the start")
    turns = [r for r in roles if r != "system"]
    if not turns or turns[0] != "user":
        problems.append("the conversation does not start with a user message")
    for first, second in zip(turns, turns[1:]):
        if first == second and first in ("user", "assistant"):
            problems.append(f"two {first} messages in a row")
            break
    if turns and turns[-1] != "assistant":
        problems.append("the conversation does not end with an assistant reply")
    return problems


def _check_chat(frame: pd.DataFrame, column: str, cap: int) -> FormatReport:
    report = FormatReport(format="chat", columns={"messages": column}, rows=len(frame), max_issues=cap)
    for row, value in enumerate(frame[column].tolist()):
        for problem in chat_problems(value):
            _add(report, [row], problem)
    report.explanation = f"{report.issue_count:,} problem(s) in {len(frame):,} rows." if report.issue_count else "Every row fits."
    return report


def training_texts(frame: pd.DataFrame, report: FormatReport) -> pd.Series:
    """The text a model trains on per row (all turns joined), for length and token statistics."""
    if report.format == "chat":
        def join(messages):
            if isinstance(messages, np.ndarray):
                messages = messages.tolist()
            if not isinstance(messages, list):
                return None
            return "\n".join(str(m.get("content", m.get("value", ""))) for m in messages if isinstance(m, dict))
        return frame[report.columns["messages"]].map(join).astype("string")
    if report.format == "unknown":
        return pd.Series(dtype="string")
    parts = [frame[c].astype("string").fillna("") for c in report.columns.values()]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\n" + part
    return joined
