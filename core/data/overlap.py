"""Train/eval contamination: evaluation rows that also appear, exactly or nearly, in the training data."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.data import formats, textstats, versions
from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

MAX_TRAIN_ROWS = 50_000
MAX_EVAL_ROWS = 20_000


@dataclass
class OverlapReport:
    train: str
    eval: str
    train_column: str
    eval_column: str
    eval_rows: int
    exact: int
    near: int
    checked_train_rows: int
    checked_eval_rows: int
    threshold: float
    examples: list[dict] = field(default_factory=list)

    @property
    def contaminated_share(self) -> float:
        return (self.exact + self.near) / self.checked_eval_rows if self.checked_eval_rows else 0.0

    def to_dict(self) -> dict:
        return {**self.__dict__, "contaminated_share": self.contaminated_share}


def _normalise(texts: pd.Series) -> pd.Series:
    return texts.astype("string").str.lower().str.replace(r"\s+", " ", regex=True).str.strip()


def comparable_text(frame: pd.DataFrame, column: str | None) -> tuple[pd.Series, str]:
    """The text to compare: a named column, else the training text of the detected format, else the first text column."""
    if column:
        if column not in frame.columns:
            raise InvalidInput(f"No column named '{column}'.")
        values = frame[column]
        report = formats.detect_format(frame[[column]])
        if report.format == "chat":
            return formats.training_texts(frame[[column]], report), column
        return values.astype("string"), column
    report = formats.detect_format(frame)
    if report.format != "unknown":
        return formats.training_texts(frame, report), "+".join(report.columns.values())
    for name in frame.columns:
        if pd.api.types.is_string_dtype(frame[name]):
            return frame[name].astype("string"), str(name)
    raise InvalidInput("Neither dataset has a text column to compare; name one with --column.")


def check_overlap(store: Store, *, actor: Actor, train_ref: str, eval_ref: str, column: str | None = None,
                  threshold: float = 0.8) -> OverlapReport:
    require(actor, Permission.VIEW_DATA_ROWS)
    train_v = versions.get_version(store, actor=actor, ref=train_ref)
    eval_v = versions.get_version(store, actor=actor, ref=eval_ref)
    train_text, train_col = comparable_text(versions.load_frame(store, actor=actor, version=train_v), column)
    eval_text, eval_col = comparable_text(versions.load_frame(store, actor=actor, version=eval_v), column)
    rng = np.random.default_rng(0)
    if len(train_text) > MAX_TRAIN_ROWS:
        train_text = train_text.iloc[np.sort(rng.choice(len(train_text), MAX_TRAIN_ROWS, replace=False))]
    eval_checked = eval_text if len(eval_text) <= MAX_EVAL_ROWS else \
        eval_text.iloc[np.sort(rng.choice(len(eval_text), MAX_EVAL_ROWS, replace=False))]
    train_norm, eval_norm = _normalise(train_text).dropna(), _normalise(eval_checked).dropna()
    exact_mask = eval_norm.isin(set(train_norm.tolist()))
    report = OverlapReport(train=train_v.ref, eval=eval_v.ref, train_column=train_col, eval_column=eval_col,
                           eval_rows=eval_v.rows, exact=int(exact_mask.sum()), near=0,
                           checked_train_rows=len(train_norm), checked_eval_rows=len(eval_norm), threshold=threshold)
    first_train = {text: idx for idx, text in train_norm[~train_norm.duplicated()].items()}
    for idx in eval_norm[exact_mask].index[:5]:
        report.examples.append({"kind": "exact", "eval_row": int(idx), "train_row": int(first_train[eval_norm[idx]]),
                                "eval_text": str(eval_checked[idx])[:300], "similarity": 1.0})
    remaining = eval_norm[~exact_mask]
    near = textstats.near_matches(train_norm, remaining, threshold)
    report.near = len(near)
    for eval_idx, train_idx, similarity in near[:10]:
        report.examples.append({"kind": "near", "eval_row": int(eval_idx), "train_row": int(train_idx),
                                "eval_text": str(eval_checked[eval_idx])[:300],
                                "train_text": str(train_text[train_idx])[:300], "similarity": similarity})
    return report
