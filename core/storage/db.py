"""The engine and the two kinds of transaction: reads, and writes that wait their turn instead of failing.

SQLite allows one writer at a time. A deferred transaction that reads and then writes cannot wait for the
lock (SQLite answers 'database is locked' at once to avoid a deadlock), so every write transaction starts
with BEGIN IMMEDIATE and waits up to the busy timeout for its turn. WAL lets readers go on meanwhile.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from core.errors import Unavailable
from core.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(settings.database_url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see do_begin below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _do_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Store:
    """Owns the engine; hands out sessions. Made once per process (the app caches it)."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self._write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if settings.is_sqlite else self.engine
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits when the block ends, rolls back on any error."""
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                if _is_locked(exc):
                    raise Unavailable(
                        "The database stayed busy with other writers for 30 seconds; nothing was saved.",
                        hint="Try again in a moment.",
                    ) from exc
                raise
            except BaseException:
                session.rollback()
                raise

    def check(self) -> float:
        """Round-trip a query; returns the seconds it took."""
        from sqlalchemy import text

        started = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return time.perf_counter() - started

    def dispose(self) -> None:
        self.engine.dispose()


def _is_locked(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)
