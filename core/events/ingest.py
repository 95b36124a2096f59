"""Event files (Parquet, JSON Lines, CSV) into the event log, in one bulk write.

Columns: time, model, input (required), application, user_id, output, latency_s, tokens_in, tokens_out, cost,
status, feedback, and the other event fields by their names (deployment, deployment_version, arm, adapter,
template_version, response_id, finish_reason, ttft_s, error, feedback_comment); any other column is business
metadata. A file whose content (sha256) was ingested before adds nothing. A bad value stops the ingest with one
sentence naming its line and column, unless `skip_bad_rows` leaves that row out; nothing is half-written.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from json.encoder import encode_basestring as _encode_string  # C, like json.dumps(ensure_ascii=False)
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.errors import DataError, InvalidInput
from core.events.log import COLUMNS, estimate_cost, insert_rows, model_prices
from core.events.schema import ENDPOINTS, STATUSES, new_event_ids
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import IngestedFile

REQUIRED = ("time", "model", "input")
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_TEXT = {"model": 128, "application": 128, "user_id": 256, "output": None, "deployment": 128, "arm": 32,
         "adapter": 128, "template_version": 200, "response_id": 128, "finish_reason": 32, "error": None,
         "feedback_comment": None, "endpoint": 16}
_NUMBERS = ("latency_s", "ttft_s", "cost")
_COUNTS = ("tokens_in", "tokens_out", "deployment_version")
_FEEDBACK_WORDS = {"up": 1.0, "down": 0.0, "true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0,
                   "thumbs_up": 1.0, "thumbs_down": 0.0, "\U0001f44d": 1.0, "\U0001f44e": 0.0}
KNOWN = set(REQUIRED) | set(_TEXT) | set(_NUMBERS) | set(_COUNTS) | {"status", "feedback"}


@dataclass(frozen=True)
class IngestResult:
    events: int                      # events added
    file: str
    sha256: str
    already_ingested: bool = False
    skipped: list[str] = field(default_factory=list)  # one sentence per row left out (skip_bad_rows)
    metadata_columns: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.already_ingested:
            return f"{self.file} was ingested before (same content); nothing was added."
        text = f"Added {self.events:,} event{'s' if self.events != 1 else ''} from {self.file}."
        if self.skipped:
            count = len(self.skipped)
            text += f" Left out {count:,} bad row{'s' if count != 1 else ''} (first: {self.skipped[0]})."
        return text

    def to_dict(self) -> dict[str, Any]:
        data = {"events": self.events, "file": self.file, "sha256": self.sha256,
                "already_ingested": self.already_ingested, "skipped_rows": len(self.skipped),
                "skipped": self.skipped[:20], "metadata_columns": self.metadata_columns}
        if self.already_ingested or self.skipped:
            data["message"] = self.message
        return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_file(store: Store, *, actor: Actor, path: str | Path, skip_bad_rows: bool = False) -> IngestResult:
    require(actor, Permission.INGEST_EVENTS)
    path = Path(path)
    name = path.name
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(f"{name} is not an event file: use Parquet (.parquet), JSON Lines (.jsonl) or CSV (.csv).")
    if not path.is_file():
        raise InvalidInput(f"The file {path} does not exist.")
    sha = file_sha256(path)
    with store.read() as session:
        if session.exec(select(IngestedFile.id).where(IngestedFile.sha256 == sha)).first() is not None:
            return IngestResult(events=0, file=name, sha256=sha, already_ingested=True)

    unreadable: list[str] = []  # records that are not rows at all (skip_bad_rows)
    frame, lines = _read(path, name, kind, skip_bad_rows, unreadable)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{name} has no {', '.join(repr(c) for c in missing)} column "
                        f"(every event file needs time, model and input).")
    columns, bad = _check_columns(frame)
    skipped = list(unreadable)
    if bad:
        first = sorted(bad.items())
        if not skip_bad_rows:
            row, (column, reason) = first[0]
            raise DataError(f"{_where(path, kind, lines, row)} of {name}: column '{column}' {reason}.",
                            hint="Fix the row, or ingest with --skip-bad-rows to leave bad rows out.")
        skipped = [f"{_where(path, kind, lines, row)}: column '{column}' {reason}" for row, (column, reason) in first]
        keep = np.ones(len(frame), dtype=bool)
        keep[list(bad)] = False
        columns = {k: _keep(v, keep) for k, v in columns.items()}
        if not len(columns["model"]):
            raise DataError(f"Every row of {name} is bad (first: {skipped[0]}); nothing was added.")
    n = len(columns["model"])
    metadata_columns = [c for c in frame.columns if c not in KNOWN]
    sqlite = store.settings.is_sqlite
    with store._write_engine.begin() as connection:
        prices = model_prices(connection, set(columns["model"]))
        rows = _rows(columns, n, prices, sqlite=sqlite)
        try:
            insert_rows(connection, rows)
            connection.execute(insert(IngestedFile).values(sha256=sha, name=name[:1024], events=n,
                                                           created_by=actor.name))
        except IntegrityError:
            raise InvalidInput(f"{name} is being ingested by someone else right now, or was just ingested; "
                               "nothing was added.") from None
        session = Session(bind=connection)
        audit.record(session=session, actor=actor, action="events.ingest", target_type="event_file", target_id=sha,
                     after={"file": name, "events": n, "skipped_rows": len(skipped)},
                     detail=f"{n} events from {name}")
        session.flush()
    return IngestResult(events=n, file=name, sha256=sha, skipped=skipped, metadata_columns=metadata_columns)


def _keep(values, keep: np.ndarray):
    if values is None:
        return None
    if isinstance(values, (np.ndarray, pd.Series)):
        return values[keep]
    return [value for value, kept in zip(values, keep.tolist()) if kept]


# --- reading ---------------------------------------------------------------------------------------------------

def _read(path: Path, name: str, kind: str, skip_bad_rows: bool, unreadable: list[str]) -> tuple[pd.DataFrame, Any]:
    """The file as a frame, and what maps a row position to its line (None: row N; a list: CSV/JSONL lines)."""
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            return table.to_pandas(types_mapper=None), None
        if kind == "jsonl":
            return _read_jsonl(path, name, skip_bad_rows, unreadable)
        return _read_csv(path, name, skip_bad_rows, unreadable)
    except (DataError, InvalidInput):
        raise
    except UnicodeDecodeError:
        raise DataError(f"{name} is not UTF-8 text.") from None
    except Exception as exc:  # noqa: BLE001 - a file the readers refuse: say so in one sentence
        raise DataError(f"{name} cannot be read as {kind.upper()}: {str(exc).splitlines()[0][:300]}") from None


def _read_jsonl(path: Path, name: str, skip_bad_rows: bool, unreadable: list[str]) -> tuple[pd.DataFrame, list[int]]:
    records, lines = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                if skip_bad_rows:
                    unreadable.append(f"Line {number}: not a JSON object")
                    continue
                raise DataError(f"Line {number} of {name} is not a JSON object.",
                                hint="Fix the line, or ingest with --skip-bad-rows to leave bad rows out.")
            records.append(value)
            lines.append(number)
    if not records:
        raise DataError(f"{name} holds no events.")
    return pd.DataFrame.from_records(records), lines


def _read_csv(path: Path, name: str, skip_bad_rows: bool, unreadable: list[str]) -> tuple[pd.DataFrame, str]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise DataError(f"{name} is empty.")
    broken = []

    def on_invalid(row) -> str:
        broken.append(row)
        return "skip"

    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(encoding="utf8", block_size=16 << 20),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=True,
                                            null_values=[""], quoted_strings_can_be_null=False),
    )
    if broken and not skip_bad_rows:
        line, fields = next((ln, n) for ln, n in _csv_records(path) if n != len(header))
        raise DataError(f"Line {line} of {name} has {fields} fields instead of {len(header)}.",
                        hint="Fix the line, or ingest with --skip-bad-rows to leave bad rows out.")
    if broken:
        unreadable.extend(f"Line {line}: {fields} fields instead of {len(header)}"
                          for line, fields in _csv_records(path) if fields != len(header))
    if table.num_rows == 0:
        raise DataError(f"{name} holds no events.")
    return table.to_pandas(), "csv"


def _where(path: Path, kind: str, lines, row: int) -> str:
    if isinstance(lines, list):
        return f"Line {lines[row]}"
    if lines == "csv":
        return f"Line {_csv_line(path, row)}"
    return f"Row {row + 1}"


def _csv_records(path: Path):
    """(line a record starts on, its number of fields) for each record after the header; only run for errors."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        start = reader.line_num + 1
        for record in reader:
            if record:
                yield start, len(record)
            start = reader.line_num + 1
        del header


def _csv_line(path: Path, row: int) -> int:
    """The line the row-th well-formed record starts on (quoted values may span lines; bad records skipped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        expected = len(next(csv.reader(handle), []))
    good = (line for line, fields in _csv_records(path) if fields == expected)
    for index, line in enumerate(good):
        if index == row:
            return line
    return row + 2


# --- checking --------------------------------------------------------------------------------------------------

def _check_columns(frame: pd.DataFrame) -> tuple[dict[str, Any], dict[int, tuple[str, str]]]:
    """Column values ready to write, and {row position: (column, reason)} for the first problem of each bad row."""
    bad: dict[int, tuple[str, str]] = {}

    def flag(mask, column: str, reason) -> None:
        for position in np.flatnonzero(mask):
            if position not in bad:
                bad[int(position)] = (column, reason(int(position)) if callable(reason) else reason)

    out: dict[str, Any] = {}
    n = len(frame)

    # time
    raw = frame["time"]
    if pd.api.types.is_datetime64_any_dtype(raw):
        times = pd.to_datetime(raw, utc=True)
    else:
        text = raw.astype("string")
        times = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        if times.isna().any():
            retry = times.isna() & text.notna()
            if retry.any():
                times[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    flag(times.isna().to_numpy(), "time",
         lambda i: "is empty" if pd.isna(raw.iloc[i]) else f"is not a date and time ({_show(raw.iloc[i])})")
    out["time"] = times

    # text columns
    for column, limit in _TEXT.items():
        if column not in frame.columns:
            out[column] = [None] * n
            continue
        values = [v if v.__class__ is str else _text(v) for v in frame[column].tolist()]
        if column == "model":
            flag(np.array([not v for v in values]), column, "is empty (every event needs its model)")
        if column == "endpoint":
            flag(np.array([v is not None and v not in ENDPOINTS for v in values]), column,
                 f"is not one of {', '.join(ENDPOINTS)}")
        elif limit:
            flag(np.array([v is not None and len(v) > limit for v in values]), column,
                 f"is longer than {limit} characters")
        out[column] = values

    # input: chat messages, {"prompt": ...}, or text (one user message)
    inputs, problems, seen = [], [], {}
    for position, value in enumerate(frame["input"].tolist()):
        if value.__class__ is str and value in seen:
            inputs.append(seen[value])
            continue
        encoded, problem = _input(value)
        inputs.append(encoded)
        if problem:
            problems.append((position, problem))
        elif value.__class__ is str and len(seen) < 100_000:
            seen[value] = encoded
    for position, problem in problems:
        bad.setdefault(position, ("input", problem))
    out["input"] = inputs

    # numbers
    for column in _NUMBERS + _COUNTS:
        if column not in frame.columns:
            out[column] = np.full(n, np.nan)
            continue
        raw = frame[column]
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
        given = raw.notna().to_numpy()
        flag(given & np.isnan(numbers), column, lambda i, r=raw: f"is not a number ({_show(r.iloc[i])})")
        flag(given & (numbers < 0), column, lambda i, r=raw: f"must be zero or more, not {_show(r.iloc[i])}")
        if column in _COUNTS:
            with np.errstate(invalid="ignore"):
                flag(given & ~np.isnan(numbers) & (numbers != np.floor(numbers)), column,
                     lambda i, r=raw: f"must be a whole number, not {_show(r.iloc[i])}")
        out[column] = numbers

    # status
    if "status" in frame.columns:
        status = [(_text(v) or "ok").lower() for v in frame["status"].tolist()]
        flag(np.array([s not in STATUSES for s in status]), "status",
             lambda i: f"must be one of {', '.join(STATUSES)}, not {_show(frame['status'].iloc[i])}")
    else:
        status = ["ok"] * n
    out["status"] = status

    # feedback: a number, or up/down, yes/no, true/false
    scores = np.full(n, np.nan)
    if "feedback" in frame.columns:
        for position, value in enumerate(frame["feedback"].tolist()):
            score, ok = _feedback(value)
            if not ok:
                bad.setdefault(position, ("feedback", f"is not a score or thumbs up/down ({_show(value)})"))
            else:
                scores[position] = score
    out["feedback_score"] = scores

    # everything else is business metadata
    extra = [c for c in frame.columns if c not in KNOWN]
    if extra:
        fragments = [_meta_fragments(c, frame[c].tolist()) for c in extra]
        out["metadata"] = ["{" + ",".join(f for f in row if f) + "}" for row in zip(*fragments)]
    else:
        out["metadata"] = None
    return out, bad


def _show(value) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "...'"


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value if isinstance(value, str) else str(value)


def _input(value) -> tuple[str | None, str | None]:
    """(the JSON to store, None) or (None, the problem)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None, "is empty (every event needs its input)"
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None, "is empty (every event needs its input)"
        if stripped[0] in "[{":
            try:
                value = json.loads(stripped)
            except ValueError:
                return '[{"role":"user","content":' + _encode_string(value) + "}]", None
        else:
            return '[{"role":"user","content":' + _encode_string(value) + "}]", None
    if isinstance(value, dict):
        return _dump(value), None
    if isinstance(value, list):
        value = [dict(m) if isinstance(m, dict) else m for m in value]
        if not value or not all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
            return None, "is a list but not chat messages (objects with 'role' and 'content')"
        return _dump(value), None
    return None, f"must be chat messages or text, not {type(value).__name__}"


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _feedback(value) -> tuple[float | None, bool]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None, True
    if isinstance(value, (bool, np.bool_)):
        return float(value), True
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), math.isfinite(float(value))
    text = str(value).strip().lower()
    if text in _FEEDBACK_WORDS:
        return _FEEDBACK_WORDS[text], True
    try:
        number = float(text)
    except ValueError:
        return None, False
    return number, math.isfinite(number)


def _meta_fragments(key, values: list) -> list[str | None]:
    """'"key":value' for each row (None where the value is missing), each distinct value encoded once."""
    prefix = _encode_string(str(key)) + ":"
    cache: dict = {}
    out = []
    for value in values:
        try:
            fragment = cache.get((value.__class__, value), False)
        except TypeError:  # unhashable (a list or dict cell)
            fragment = False
        if fragment is False:
            fragment = _meta_value(prefix, value)
            try:
                if len(cache) < 100_000:
                    cache[(value.__class__, value)] = fragment
            except TypeError:
                pass
        out.append(fragment)
    return out


def _meta_value(prefix: str, value) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, pd.Timestamp):
        value = value.isoformat()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    return prefix + (_encode_string(value) if isinstance(value, str) else _dump(value))


# --- rows ------------------------------------------------------------------------------------------------------

def _rows(columns: dict[str, Any], n: int, prices: dict, *, sqlite: bool) -> list[tuple]:
    import pyarrow as pa
    import pyarrow.compute as pc

    stamps = pa.array(columns["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]"),
                      pa.timestamp("us"))
    times = pc.strftime(stamps, format="%Y-%m-%d %H:%M:%S" if sqlite else "%Y-%m-%d %H:%M:%S+00").to_pylist()
    event_ids = new_event_ids(n)

    def numbers(name, whole=False):
        values = columns[name]
        if isinstance(values, list):
            return values
        present = ~np.isnan(values)
        converted = np.where(present, values, 0).astype(np.int64) if whole else values
        return [v if p else None for v, p in zip(converted.tolist(), present.tolist())]

    tokens_in, tokens_out = numbers("tokens_in", True), numbers("tokens_out", True)
    cost = numbers("cost")
    if prices:
        cost = [c if c is not None else estimate_cost(prices, m, ti, to)
                for c, m, ti, to in zip(cost, columns["model"], tokens_in, tokens_out)]
    feedback = numbers("feedback_score")
    feedback_at = [t if f is not None else None for t, f in zip(times, feedback)]
    metadata = columns["metadata"] if columns["metadata"] is not None else ["{}"] * n
    none = [None] * n
    by_name = {
        "event_id": event_ids, "response_id": columns["response_id"], "time": times,
        "deployment": columns["deployment"], "deployment_version": numbers("deployment_version", True),
        "arm": columns["arm"], "model": columns["model"], "adapter": columns["adapter"],
        "template_version": columns["template_version"], "application": columns["application"],
        "user_id": columns["user_id"], "input": columns["input"], "output": columns["output"],
        "finish_reason": columns["finish_reason"], "latency_s": numbers("latency_s"), "ttft_s": numbers("ttft_s"),
        "tokens_in": tokens_in, "tokens_out": tokens_out, "cost": cost, "status": columns["status"],
        "error": columns["error"], "feedback_score": feedback, "feedback_comment": columns["feedback_comment"],
        "feedback_at": feedback_at, "metadata": metadata, "guard_flags": none, "source": ["file"] * n,
        "endpoint": columns["endpoint"],
    }
    return list(zip(*(by_name[c] for c in COLUMNS)))
