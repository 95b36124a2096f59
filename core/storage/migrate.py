"""Applies the Alembic migrations at start-up, one process at a time."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.storage.db import Store

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every workbench process on one PostgreSQL database.
_PG_LOCK_KEY = 7_311_905_214


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def newest_revision_file() -> str:
    """The head revision read from the file names (NNNN_what.py holds revision NNNN, one chain: tested), without
    importing Alembic, which costs every start-up ~0.08 s."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stored_revision(store: Store) -> str | None:
    """The schema's revision by plain SQL; None before the first migration."""
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table yet
        return None
    return rows[0][0] if len(rows) == 1 else None


def upgrade(store: Store) -> str:
    """Brings the schema to the newest revision; returns it. Safe to call from several processes at once."""
    head = newest_revision_file()
    if _stored_revision(store) == head:  # the usual start: nothing to do, and no Alembic to import
        return head
    from alembic import command

    with _migration_lock(store):
        if current_revision(store) == head_revision():
            return head_revision()
        config = alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return head_revision()


@contextmanager
def _migration_lock(store: Store):
    if store.settings.is_sqlite:
        store.settings.home.mkdir(parents=True, exist_ok=True)
        with open(store.settings.home / ".migrate.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with store.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
