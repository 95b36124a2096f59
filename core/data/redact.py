"""Redaction: a new dataset version with PII replaced by typed placeholders, counts recorded in lineage."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data import pii, versions
from core.data.versions import VersionInfo
from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store


@dataclass(frozen=True)
class RedactionResult:
    parent: VersionInfo
    version: VersionInfo
    created: bool
    counts: dict[str, int]
    columns: list[str]

    def to_dict(self) -> dict:
        return {"dataset": self.version.dataset, "version": self.version.version, "parent": self.parent.ref,
                "created": self.created, "counts": self.counts, "total": sum(self.counts.values()),
                "columns": self.columns, "rows": self.version.rows, "sha256": self.version.sha256}


def _redact_messages(values: pd.Series, types: list[str] | None) -> tuple[pd.Series, Counter]:
    """Chat columns: redact each message's content, keeping the structure."""
    total: Counter = Counter()

    def one(messages):
        if isinstance(messages, np.ndarray):
            messages = messages.tolist()
        if not isinstance(messages, list):
            return messages
        out = []
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                text, counts = pii.redact_text(message["content"], types)
                total.update(counts)
                message = {**message, "content": text}
            out.append(message)
        return out

    return values.map(one), total


def redact_frame(frame: pd.DataFrame, types: list[str] | None = None,
                 columns: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    unknown = [c for c in columns or [] if c not in frame.columns]
    if unknown:
        raise InvalidInput(f"No column named {', '.join(repr(c) for c in unknown)}; the columns are "
                           f"{', '.join(map(str, frame.columns))}.")
    out = frame.copy()
    totals: Counter = Counter()
    touched = []
    for name in columns or list(frame.columns):
        column = frame[name]
        sample = column.dropna().head(50)
        if sample.map(lambda v: isinstance(v, (list, np.ndarray))).any():
            redacted, counts = _redact_messages(column, types)
        elif pd.api.types.is_string_dtype(column) or column.dtype == object:
            redacted, counts = pii.redact_series(column, types)
        else:
            continue
        if sum(counts.values()):
            out[name] = redacted
            touched.append(str(name))
        totals.update(counts)
    return out, {k: int(v) for k, v in totals.items() if v}, touched


def redact_version(store: Store, *, actor: Actor, ref: str, types: list[str] | None = None,
                   columns: list[str] | None = None) -> RedactionResult:
    require(actor, Permission.MANAGE_DATA)
    parent = versions.get_version(store, actor=actor, ref=ref)
    frame = versions.load_frame(store, actor=actor, version=parent)
    redacted, counts, touched = redact_frame(frame, types, columns)
    version, created = versions.save_version(
        store, actor=actor, name=parent.dataset, frame=redacted, transformation="redact",
        source=f"redaction of {parent.ref}", parents=[parent],
        params={"types": list(pii.PII_TYPES) if types is None else types, "columns": columns or "all text columns"},
        stats={"redacted": counts, "columns": touched},
    )
    return RedactionResult(parent=parent, version=version, created=created, counts=counts, columns=touched)
