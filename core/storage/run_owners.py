"""Work that runs inside the process that asked for it (a comparison grid, a pipeline run) records that process,
so that a run whose process was killed or whose machine restarted does not stay "running" for ever.

Runs are checked when they are read: a running run of this host whose process is gone becomes failed, with an
audited reason. Runs started on another host (a shared PostgreSQL database) are left to that host.
"""
from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from sqlmodel import col, select

from core.governance import audit
from core.governance.roles import SYSTEM
from core.storage.db import Store
from core.storage.tables import utcnow

INTERRUPTED = "Interrupted: the process running it ended before it finished (stopped, killed or restarted)."


def this_process() -> dict[str, object]:
    """The owner fields of a run started here."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def live_process(pid: int | None):
    """The psutil Process of `pid` when it exists and is not a zombie, else None (raises psutil.AccessDenied when
    the process is another user's)."""
    if not pid:
        return None
    import psutil

    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.NoSuchProcess:
        return None


def process_running(pid: int | None, since: datetime | None = None) -> bool:
    """Whether process `pid` is alive and, when `since` is given, was started before then (a pid reused by a later
    process does not count). Another user's process counts as alive: it exists, it is just not ours to inspect."""
    import psutil

    try:
        process = live_process(pid)
        if process is None:
            return False
        if since is not None:
            started = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
            return process.create_time() <= started.timestamp() + 1  # clock ticks round create_time
        return True
    except psutil.AccessDenied:
        return True
    except psutil.Error:  # NoSuchProcess and the like
        return False


def fail_orphans(store: Store, table, *, action: str, target_type: str) -> list[int]:
    """Marks this host's running rows of `table` whose process is gone as failed; returns their ids. Looks first and
    writes only when a run died, so every read can call it."""
    host = socket.gethostname()

    def orphaned(row) -> bool:
        return row.status == "running" and row.host == host and not process_running(row.pid, row.created_at)

    query = select(table).where(table.status == "running", table.host == host)
    with store.read() as session:
        suspects = [row.id for row in session.exec(query).all() if orphaned(row)]
    if not suspects:
        return []
    failed = []
    with store.write() as session:
        for row in session.exec(select(table).where(col(table.id).in_(suspects))).all():
            if orphaned(row):  # again, under the write lock: it may have finished meanwhile
                row.status, row.error, row.finished_at, row.pid = "failed", INTERRUPTED, utcnow(), None
                session.add(row)
                audit.record(session=session, actor=SYSTEM, action=action, target_type=target_type,
                             target_id=row.id, detail=INTERRUPTED)
                failed.append(row.id)
    return failed
