"""Where a reference or current sample comes from, read in chunks of only the columns a field list needs.

A source is a dataset version (`NAME` or `NAME@VERSION`) or a time range of events
(`events:2026-01-01..2026-02-10`, either end open, e.g. `events:2026-02-10..`), optionally filtered by
deployment, application, model and metadata keys. Events are read with SQL, `CHUNK_ROWS` rows at a time in id
order; datasets with Parquet's column projection, batch by batch. Nothing else is loaded.
"""
from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.errors import InvalidInput
from core.storage.db import Store

CHUNK_ROWS = 50_000
EVENT_COLUMNS = ("time", "latency_s", "ttft_s", "tokens_in", "tokens_out", "cost", "feedback_score", "model",
                 "deployment", "deployment_version", "arm", "application", "status", "finish_reason",
                 "template_version", "output", "guard_flags")
PROMPT_COLUMNS = ("prompt", "input", "question", "instruction", "query", "text", "messages")
OUTPUT_COLUMNS = ("output", "completion", "response", "answer", "chosen", "messages")


@dataclass(frozen=True)
class EventSource:
    since: datetime | None = None
    until: datetime | None = None
    deployment: str | None = None
    application: str | None = None
    model: str | None = None
    where: dict[str, str] = field(default_factory=dict)

    kind = "events"

    def label(self) -> str:
        def day(value):
            return value.strftime("%Y-%m-%d") if value else ""
        filters = [f"{k}={v}" for k, v in (("deployment", self.deployment), ("application", self.application),
                                           ("model", self.model)) if v]
        filters += [f"{k}={v}" for k, v in sorted(self.where.items())]
        return f"events:{day(self.since)}..{day(self.until)}" + (f" ({', '.join(filters)})" if filters else "")

    def window(self, since: datetime, until: datetime) -> "EventSource":
        return replace(self, since=since, until=until)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "events", "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "deployment": self.deployment,
                "application": self.application, "model": self.model, "where": dict(self.where)}


@dataclass(frozen=True)
class DatasetSource:
    ref: str

    kind = "dataset"

    def label(self) -> str:
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "dataset", "ref": self.ref}


Source = EventSource | DatasetSource


def parse_source(text: str, *, where: dict[str, str] | None = None, deployment: str | None = None,
                 application: str | None = None, model: str | None = None) -> Source:
    """`NAME[@VERSION]` or `events:[FROM]..[TO]` (dates or ISO times, UTC; TO is exclusive)."""
    from core.events.query import parse_time

    text = (text or "").strip()
    if not text:
        raise InvalidInput("Name a dataset version (NAME or NAME@VERSION) or an event range (events:FROM..TO).")
    if text == "events" or text.startswith("events:"):
        span = text[len("events:"):] if text != "events" else ".."
        start, sep, end = span.partition("..")
        if not sep:
            raise InvalidInput(f"'{text}' is not an event range; write events:2026-01-01..2026-02-10 "
                               "(either end may be left out).")
        since, until = parse_time(start, "The range's start"), parse_time(end, "The range's end")
        if since and until and since >= until:
            raise InvalidInput(f"The event range {text} ends before it starts.")
        return EventSource(since=since, until=until, where=dict(where or {}), deployment=deployment,
                           application=application, model=model)
    if where:
        raise InvalidInput("--where filters apply to events, not to a dataset version.")
    return DatasetSource(text)


def source_from_dict(data: dict[str, Any]) -> Source:
    if data.get("kind") == "dataset":
        return DatasetSource(data["ref"])
    from core.events.query import parse_time

    return EventSource(since=parse_time(data.get("since"), "since"), until=parse_time(data.get("until"), "until"),
                       deployment=data.get("deployment"), application=data.get("application"),
                       model=data.get("model"), where=dict(data.get("where") or {}))


def prompt_of(value: Any) -> str | None:
    """The last user message of chat messages, or a completion's prompt."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        prompt = value.get("prompt")
        return prompt if isinstance(prompt, str) else None
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)[:10_000]
    return None


def answer_of(value: Any) -> str | None:
    """The last assistant message of chat messages, or the value itself when it is text."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == "assistant":
                return message.get("content")
        return None
    return value if isinstance(value, str) else None


# --- events ---


def _event_filter(source: EventSource):
    from core.events.query import EventFilter

    return EventFilter(since=source.since, until=source.until, deployment=source.deployment,
                       application=source.application, model=source.model, where=source.where)


def iter_events(store: Store, source: EventSource, needs: set[str], *, chunk_rows: int = CHUNK_ROWS
                ) -> Iterator[pd.DataFrame]:
    """Frames with `id` and the canonical columns in `needs`, `chunk_rows` events at a time, in id order.

    The window's event ids come first from its index (time, or deployment/model/application and time), then each
    chunk's columns by id range, so no query walks the whole table. Text is not read here: a need of `prompt` or
    `output` gives the event's id where it has that text and None where not (drift samples pick events by it,
    then read only the sampled texts with core.monitoring.text_fields.texts_of), and the derived text fields
    (`prompt_chars`, `output_tokens`...) come from the per-event cache, filled for events not in it yet.
    """
    from core.events.query import apply_filter
    from core.monitoring import text_fields
    from core.storage.tables import EventTextStat, InferenceEvent

    columns = [InferenceEvent.id]
    names = ["id"]
    derived = []
    for need in sorted(needs):
        if need in ("prompt", "output"):
            derived.append(f"{need}_chars")
        elif need in text_fields.DERIVED:
            derived.append(need)
        elif need.startswith("meta."):
            columns.append(InferenceEvent.meta[need[5:]].as_string())
            names.append(need)
        elif need == "guard_flags":  # flagged or not, without decoding the JSON list in Python
            columns.append(_flagged(InferenceEvent.guard_flags))
            names.append(need)
        elif need in EVENT_COLUMNS:
            columns.append(getattr(InferenceEvent, need))
            names.append(need)
        else:
            raise InvalidInput(f"Events have no column for {need}.")
    query = select(*columns)
    if derived:
        cached = sorted(set(derived) | {"prompt_chars", "output_chars"} if any(n.endswith("_tokens") for n in derived)
                        else set(derived))
        query = select(*columns, EventTextStat.event_id.label("_cached"),
                       *[getattr(EventTextStat, name) for name in cached])
        query = query.select_from(InferenceEvent).outerjoin(EventTextStat,
                                                            EventTextStat.event_id == InferenceEvent.id)
        names += ["_cached", *cached]
    event_filter = _event_filter(source)
    ids = window_ids(store, source)
    base = apply_filter(query, event_filter)
    with store.engine.connect() as connection:
        for start in range(0, len(ids), chunk_rows):
            part = ids[start:start + chunk_rows]
            if int(part[-1]) - int(part[0]) < 2 * len(part):  # dense ids: one id range
                pieces = [base.where(InferenceEvent.id >= int(part[0]), InferenceEvent.id <= int(part[-1]))]
            else:  # ids spread by out-of-order ingestion: the ids themselves
                pieces = [base.where(InferenceEvent.id.in_(piece.tolist())) for piece in np.array_split(
                    part, -(-len(part) // 20_000))]
            rows = [row for piece in pieces for row in _raw_rows(connection, piece.order_by(InferenceEvent.id))]
            if not rows:
                continue
            # column by column (rows transposed in C); text columns stay Python objects
            frame = pd.DataFrame({name: pd.Series(values, dtype=None if name in _NUMBERS else object)
                                  for name, values in zip(names, zip(*rows))})
            if derived:
                frame = text_fields.complete(store, frame, needs)
            for part_name in ("prompt", "output"):
                if part_name in needs:  # the event's id where it has the text (see above)
                    present = frame[f"{part_name}_chars"].notna()
                    frame[part_name] = frame["id"].astype(object).where(present, None)
            yield frame


_NUMBERS = {"id", "latency_s", "ttft_s", "tokens_in", "tokens_out", "cost", "feedback_score", "deployment_version",
            "guard_flags", "_cached", "prompt_chars", "prompt_words", "prompt_tokens", "output_chars", "output_words",
            "output_tokens"}


def _raw_rows(connection, query) -> list[tuple]:
    """The query's rows as the driver's plain tuples. The columns read here need no conversion (numbers, text,
    SQLite's stored time text, which pandas parses as UTC), and SQLAlchemy's Row objects cost more than the read."""
    result = connection.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def window_ids(store: Store, source: EventSource) -> np.ndarray:
    """The ids of the source's events, sorted, read through the time (or column and time) index alone."""
    from core.events.query import apply_filter
    from core.storage.tables import InferenceEvent

    query = apply_filter(select(InferenceEvent.id), _event_filter(source))
    parts = []
    with store.engine.connect() as connection:  # in parts, so a window of millions never is a list of ints
        result = connection.execute(query)  # no stream_results: SQLAlchemy would buffer rows ahead of the cursor
        try:
            while rows := result.cursor.fetchmany(250_000):
                parts.append(np.fromiter(map(operator.itemgetter(0), rows), dtype=np.int64, count=len(rows)))
        finally:
            result.close()
    ids = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    ids.sort()
    return ids


def _flagged(column):
    from sqlalchemy import String, case, cast

    text = cast(column, String)
    return case((column.is_(None), 0), (text.in_(("null", "[]")), 0), else_=1)


# --- dataset versions ---


def dataset_columns(store: Store, source: DatasetSource, *, actor) -> tuple[str, dict[str, str], dict[str, str]]:
    """(parquet path, {column: kind}, {canonical text column: dataset column}) of a dataset version."""
    from core.data import versions

    info = versions.get_version(store, actor=actor, ref=source.ref)
    path = versions.object_path(store.settings.datasets_dir, info.sha256)
    kinds: dict[str, str] = {}
    for column in info.columns:
        dtype = column["dtype"]
        kinds[column["name"]] = "numeric" if dtype.startswith(("int", "float", "uint", "Int", "Float")) else "categorical"
    names = [c["name"] for c in info.columns]
    strings = [name for name, kind in kinds.items() if kind == "categorical"]
    if strings:  # free text (long, mostly distinct values) is text, not a category
        import pyarrow.parquet as pq

        head = next(pq.ParquetFile(path).iter_batches(batch_size=1000, columns=strings), None)
        if head is not None:
            frame = head.to_pandas()
            for name in strings:
                values = frame[name].dropna()
                if len(values) and values.map(lambda v: isinstance(v, str)).all():
                    if values.nunique() > 0.5 * len(values) and values.str.len().mean() > 20:
                        kinds[name] = "text"
                else:
                    kinds[name] = "other"  # lists, dicts: not a field by itself
    text = {}
    for canonical, candidates in (("prompt", PROMPT_COLUMNS), ("output", OUTPUT_COLUMNS)):
        found = next((c for c in candidates if c in names), None)
        if found:
            text[canonical] = found
    return str(path), kinds, text


def iter_dataset(store: Store, source: DatasetSource, needs: set[str], *, actor, chunk_rows: int = CHUNK_ROWS
                 ) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    from core.governance.roles import Permission, require

    require(actor, Permission.VIEW_DATA_ROWS)
    path, kinds, text = dataset_columns(store, source, actor=actor)
    read: dict[str, str] = {}
    for need in needs:
        if need in ("prompt", "output"):
            if need not in text:
                raise InvalidInput(f"{source.ref} has no {need} column (looked for "
                                   f"{', '.join(PROMPT_COLUMNS if need == 'prompt' else OUTPUT_COLUMNS)}).")
            read[need] = text[need]
        else:
            column = need[5:] if need.startswith("meta.") else need
            if column not in kinds:
                raise InvalidInput(f"{source.ref} has no column '{column}'.")
            read[need] = column
    parquet = pq.ParquetFile(path)
    offset = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=sorted(set(read.values()))):
        table = batch.to_pandas()
        frame = pd.DataFrame({"id": range(offset, offset + len(table))})
        for need, column in read.items():
            series = table[column].reset_index(drop=True)
            if column == "messages":
                series = series.map(prompt_of if need == "prompt" else answer_of)
            frame[need] = series
        offset += len(table)
        yield frame


def iter_source(store: Store, source: Source, needs: set[str], *, actor, chunk_rows: int = CHUNK_ROWS
                ) -> Iterator[pd.DataFrame]:
    if isinstance(source, DatasetSource):
        return iter_dataset(store, source, needs, actor=actor, chunk_rows=chunk_rows)
    return iter_events(store, source, needs, chunk_rows=chunk_rows)
