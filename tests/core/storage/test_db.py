"""The database: migrations at start-up, both backends, and concurrent writers on SQLite."""
import multiprocessing
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from core.governance import audit, users
from core.governance.roles import SYSTEM, Role
from core.home import open_store
from core.settings import Settings
from core.storage import migrate
from core.storage.tables import AuditEvent, User


@pytest.mark.postgres
def test_migrations_bring_an_empty_database_to_the_head_revision(any_store):
    assert migrate.current_revision(any_store) == migrate.head_revision()


def test_migration_files_are_named_after_their_revision_in_one_chain():
    """open_store() finds the head from the file names, without Alembic: the names must say the truth."""
    import importlib.util

    revisions = {}
    for path in sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.revision == path.name.split("_", 1)[0], path.name
        revisions[module.revision] = module.down_revision
    assert migrate.newest_revision_file() == migrate.head_revision()
    chain = sorted(revisions)
    assert [revisions[r] for r in chain] == [None, *chain[:-1]]  # each builds on the one before


@pytest.mark.postgres
def test_a_store_already_at_the_head_opens_without_importing_alembic(any_store):
    """The usual start-up (every CLI command, every app start) skips Alembic's import and its script parsing."""
    import os
    import subprocess
    import sys

    code = ("import sys; from core.home import open_store; store = open_store(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    env = {**os.environ, "WORKBENCH_HOME": str(any_store.settings.home)}
    if not any_store.settings.is_sqlite:
        env["WORKBENCH_DATABASE_URL"] = any_store.settings.database_url
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert migrate.current_revision(any_store) == migrate.head_revision()


@pytest.mark.postgres
def test_migrations_match_the_tables_declared_in_code(any_store):
    """A table changed without a migration shows up here as a difference."""
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


@pytest.mark.postgres
def test_a_write_and_its_audit_row_land_together_or_not_at_all(any_store):
    users.create_user(any_store, actor=SYSTEM, name="first", role=Role.VIEWER, password="long-enough-1")
    with pytest.raises(RuntimeError):
        with any_store.write() as session:
            session.add(User(name="ghost", role="viewer", password_hash="x"))
            audit.record(session=session, actor=SYSTEM, action="user.create", target_type="user", target_id="ghost")
            session.flush()
            raise RuntimeError("crash half-way")
    with any_store.read() as session:
        names = [u.name for u in session.exec(select(User))]
        targets = [e.target_id for e in session.exec(select(AuditEvent))]
    assert names == ["first"]
    assert "ghost" not in targets


@pytest.mark.postgres
def test_timestamps_come_back_in_utc(any_store):
    created = users.create_user(any_store, actor=SYSTEM, name="tz", role=Role.VIEWER, password="long-enough-1")
    again = users.get_user(any_store, "tz")
    assert again.created_at.utcoffset().total_seconds() == 0
    assert abs((again.created_at - created.created_at).total_seconds()) < 1


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_migrating_twice_is_harmless(home):
    first = open_store(home)
    first.dispose()
    second = open_store(home)
    assert migrate.current_revision(second) == migrate.head_revision()
    second.dispose()


def _writer(home: str, worker: int, count: int, errors) -> None:
    import os

    os.environ["WORKBENCH_HOME"] = home
    store = open_store(Settings.from_env())
    try:
        for i in range(count):
            # Read, then write, in one transaction: the pattern that fails at once with 'database is locked'
            # under SQLite's default deferred transactions.
            with store.write() as session:
                session.exec(select(User)).all()
                session.add(User(name=f"w{worker}-{i}", role="viewer", password_hash="x"))
                audit.record(session=session, actor=SYSTEM, action="user.create", target_type="user",
                             target_id=f"w{worker}-{i}")
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.dispose()


def test_concurrent_writers_in_separate_processes_never_see_database_is_locked(home):
    open_store(home).dispose()
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    workers, count = 4, 40
    processes = [context.Process(target=_writer, args=(str(home.home), w, count, errors)) for w in range(workers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    with sqlite3.connect(home.database_path) as conn:
        assert conn.execute("SELECT count(*) FROM user").fetchone()[0] == workers * count
        assert conn.execute("SELECT count(*) FROM auditevent").fetchone()[0] == workers * count
