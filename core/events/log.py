"""Writing events: `log_events` (the Python call applications use) and `EventWriter` (the server's writer).

Both end in `insert_rows`, the bulk fast path: one executemany of plain tuples on SQLite, one COPY on
PostgreSQL; no ORM object per row. `EventWriter` journals each submitted batch to an fsynced file before it
returns, so an event the server acknowledged survives a crash: the journal is replayed when a writer starts.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time as clock
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from core.events.schema import SOURCES, EventIn, as_utc, check_event, new_event_id, new_event_ids, normalise_input
from core.storage.db import Store
from core.storage.tables import InferenceEvent, RegisteredModel

TABLE = InferenceEvent.__table__
# Database column names in the order rows are built ("metadata" is the column behind InferenceEvent.meta).
COLUMNS = tuple(c.name for c in TABLE.columns if c.name != "id")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own SQLite DateTime format, so ORM reads agree


def format_time(value: datetime, *, sqlite: bool) -> str:
    value = as_utc(value)
    return value.strftime(_SQLITE_TIME) if sqlite else value.isoformat()


def model_prices(connection_or_session, models: Iterable[str]) -> dict[str, tuple[float, float]]:
    """USD per 1,000 input and output tokens for the registered models among `models`."""
    names = sorted(set(models))
    if not names:
        return {}
    rows = connection_or_session.execute(
        select(RegisteredModel.name, RegisteredModel.info).where(RegisteredModel.name.in_(names))).all()
    prices = {}
    for name, info in rows:
        price = (info or {}).get("price") or {}
        prices[name] = (float(price.get("input_per_1k") or 0.0), float(price.get("output_per_1k") or 0.0))
    return prices


def estimate_cost(prices: dict[str, tuple[float, float]], model: str, tokens_in, tokens_out) -> float | None:
    """The call's price from the model's price table; None for a model not registered here or no tokens."""
    if model not in prices or (tokens_in is None and tokens_out is None):
        return None
    per_in, per_out = prices[model]
    return ((tokens_in or 0) * per_in + (tokens_out or 0) * per_out) / 1000.0


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _num(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def rows_from_events(events: Sequence[EventIn], *, source: str, prices: dict, sqlite: bool) -> list[tuple]:
    """Checks every event (InvalidInput names the first bad one) and turns them into row tuples in COLUMNS order."""
    if source not in SOURCES:
        raise InvalidInput(f"'{source}' is not an event source; use one of {', '.join(SOURCES)}.")
    rows = []
    fresh_ids = iter(new_event_ids(sum(1 for e in events if getattr(e, "event_id", None) is None)))
    for index, event in enumerate(events, start=1):
        if not isinstance(event, EventIn):
            raise InvalidInput(f"Event {index} is a {type(event).__name__}, not an EventIn.")
        check_event(event, f"Event {index}")
        try:
            messages = normalise_input(event.input)
        except InvalidInput as exc:
            raise InvalidInput(f"Event {index}: {exc.message}.") from None
        if event.event_id is None:
            event.event_id = next(fresh_ids)  # the caller learns each event's id
        cost = event.cost if event.cost is not None else estimate_cost(prices, event.model, event.tokens_in,
                                                                       event.tokens_out)
        feedback_at = format_time(event.time, sqlite=sqlite) if event.feedback_score is not None else None
        rows.append((
            event.event_id, event.response_id, format_time(event.time, sqlite=sqlite),
            event.deployment, event.deployment_version, event.arm, event.model, event.adapter,
            event.template_version, event.application, event.user_id, _json(messages), event.output,
            event.finish_reason, _num(event.latency_s), _num(event.ttft_s), event.tokens_in, event.tokens_out,
            _num(cost), event.status, event.error, _num(event.feedback_score), event.feedback_comment, feedback_at,
            _json(event.metadata or {}), _json(event.guard_flags), source, event.endpoint,
        ))
    return rows


_BIG = 50_000  # rows from which a bulk write sorts by time and, on SQLite, widens the page cache
_TIME = COLUMNS.index("time")


def insert_rows(connection: Connection, rows: Sequence[tuple]) -> int:
    """The fast path, inside the caller's transaction: executemany on SQLite, COPY on PostgreSQL.

    Big batches go in time order (the time-led indexes then grow at a few places instead of everywhere), and
    SQLite gets a 256 MB page cache for the write so index pages stay in memory.
    """
    if not rows:
        return 0
    if len(rows) >= _BIG:
        rows = sorted(rows, key=lambda row: row[_TIME])
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY inferenceevent ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)
    marks = ", ".join("?" for _ in COLUMNS)
    cursor = connection.connection.driver_connection.cursor()
    try:
        if len(rows) >= _BIG:
            cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
            cursor.execute("PRAGMA cache_size=-262144")
        try:
            cursor.executemany(f"INSERT INTO inferenceevent ({names}) VALUES ({marks})", rows)
        finally:
            if len(rows) >= _BIG:
                cursor.execute(f"PRAGMA cache_size={int(cache)}")
    finally:
        cursor.close()
    return len(rows)


def log_events(store: Store, events: list[EventIn], *, source: str = "sdk") -> int:
    """Logs model calls made anywhere (here or elsewhere) in one bulk write; returns how many were added.

    All or nothing: a bad event raises InvalidInput naming it and nothing is written. Events without an
    `event_id` get one (set on the EventIn, so the caller can return it). The cost is taken from
    the model's price table when an event does not give it. Events whose `event_id` is already logged are an
    error of the caller (the unique index refuses them); `EventWriter` replays use `only_new=True` internally.
    """
    return _log(store, list(events), source=source, only_new=False)


def _log(store: Store, events: list[EventIn], *, source: str, only_new: bool) -> int:
    if not events:
        return 0
    sqlite = store.settings.is_sqlite
    with store._write_engine.begin() as connection:
        prices = model_prices(connection, (e.model for e in events if e.cost is None and isinstance(e.model, str)))
        rows = rows_from_events(events, source=source, prices=prices, sqlite=sqlite)
        if only_new:
            ids = [row[0] for row in rows]
            seen = set()
            for start in range(0, len(ids), 500):
                seen.update(connection.execute(select(InferenceEvent.event_id).where(
                    InferenceEvent.event_id.in_(ids[start:start + 500]))).scalars())
            rows = [row for row in rows if row[0] not in seen]
        return insert_rows(connection, rows)


# --- the server's writer ---------------------------------------------------------------------------------------

_OPEN_JOURNALS: set[Path] = set()  # journal files of the writers alive in this process (never replayed)


def journal_dir(store: Store) -> Path:
    return store.settings.home / "events" / "journal"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_journal(path: Path) -> list[EventIn]:
    """The events in one journal file; a torn last line (a crash mid-write, never acknowledged) is left out."""
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(EventIn.from_json(json.loads(line)))
            except (ValueError, TypeError):
                continue
    return events


def replay_journal(store: Store, *, source: str = "server") -> int:
    """Writes the events of journals left by writers that are gone (a crash); returns how many were added.

    Events already in the table (the crash came after the write, before the journal was removed) are skipped.
    """
    folder = journal_dir(store)
    if not folder.exists():
        return 0
    added = 0
    for path in sorted(folder.glob("*.jsonl")):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if (_pid_alive(pid) and pid != os.getpid()) or path in _OPEN_JOURNALS:
            continue  # a live writer's journal
        events = read_journal(path)
        if events:
            added += _log(store, events, source=source, only_new=True)
        path.unlink(missing_ok=True)
    return added


class EventWriter:
    """Batched background writer: `submit` journals events durably and returns; a thread writes them in bulk.

    ```
    writer = EventWriter(store, source="server").start()   # replays journals a crashed writer left
    ids = writer.submit([EventIn(model="m", input=messages, output=text, ...)])  # durable when it returns
    writer.close()                                         # writes what is pending, stops the thread
    ```
    A journal file holds the events of one batch-to-be; it is removed once its events are in the database.
    """

    def __init__(self, store: Store, *, source: str = "server", batch_size: int = 500,
                 flush_interval_s: float = 0.5):
        if source not in SOURCES:
            raise InvalidInput(f"'{source}' is not an event source; use one of {', '.join(SOURCES)}.")
        self.store = store
        self.source = source
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.folder = journal_dir(store)
        self._lock = threading.Lock()
        self._pending: list[EventIn] = []
        self._segment: Path | None = None  # the journal file new submissions go to
        self._closed: list[Path] = []  # earlier journal files whose events are still pending (a failed write)
        self._handle = None
        self._sequence = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._written = 0
        self._submitted = 0
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.batches: list[int] = []  # sizes of the batches written, newest last (for tests and status)

    # public ---------------------------------------------------------------------------------------------------
    def start(self) -> "EventWriter":
        self.folder.mkdir(parents=True, exist_ok=True)
        replay_journal(self.store, source=self.source)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()
        return self

    def submit(self, events: EventIn | list[EventIn]) -> list[str]:
        """Checks and journals the events (fsynced) and returns their event ids; the database write follows."""
        events = [events] if isinstance(events, EventIn) else list(events)
        for index, event in enumerate(events, start=1):
            check_event(event, f"Event {index}")
            if event.event_id is None:
                event.event_id = new_event_id()
        lines = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in events)
        with self._lock:
            if self._handle is None:
                self._open_segment()
            self._handle.write(lines)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._pending.extend(events)
            self._submitted += len(events)
            full = len(self._pending) >= self.batch_size
        if full:
            self._wake.set()
        return [e.event_id for e in events]

    def flush(self, timeout: float = 30.0) -> bool:
        """Waits until every event submitted so far is in the database; False on timeout."""
        target = self._submitted
        self._wake.set()
        deadline = clock.monotonic() + timeout
        with self._idle:
            while self._written < target:
                left = deadline - clock.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
                self._wake.set()
        return True

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> "EventWriter":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # inside ---------------------------------------------------------------------------------------------------
    def _open_segment(self) -> None:
        self._sequence += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{int(clock.time() * 1000):015d}-{os.getpid()}-{id(self):x}{self._sequence:06d}.jsonl"
        self._segment = self.folder / name
        self._handle = open(self._segment, "a", encoding="utf-8")
        _OPEN_JOURNALS.add(self._segment)

    def _take(self) -> tuple[list[EventIn], list[Path]]:
        """The pending events and their journal files; new submissions go to a fresh file."""
        with self._lock:
            events, segments = self._pending, self._closed + ([self._segment] if self._segment else [])
            if self._handle is not None:
                self._handle.close()
            self._pending, self._closed, self._segment, self._handle = [], [], None, None
            return events, segments

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stopping = self._stop.is_set()
            events, segments = self._take()
            if events:
                try:
                    _log(self.store, events, source=self.source, only_new=True)
                    self.batches.append(len(events))
                    self.last_error = None
                    for segment in segments:
                        segment.unlink(missing_ok=True)
                        _OPEN_JOURNALS.discard(segment)
                except Exception as exc:  # noqa: BLE001 - the journal keeps them: retried, or replayed at start
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._requeue(events, segments)
                    clock.sleep(min(self.flush_interval_s, 1.0))
                    if not stopping:
                        continue
                with self._idle:
                    self._written += len(events)
                    self._idle.notify_all()
            if stopping:
                return

    def _requeue(self, events: list[EventIn], segments: list[Path]) -> None:
        """A failed write: the events go back in front; their journal files stay until they are written."""
        with self._lock:
            self._pending[:0] = events
            self._closed[:0] = segments
