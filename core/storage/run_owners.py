"""Work that runs inside the process that asked for it (a comparison grid, a pipeline run) records that process,
so that a run whose process was killed or whose machine restarted does not stay "running" for ever.

Runs are checked when they are read: a running run of this host whose process is gone becomes failed, with an
audited reason. Runs started on another host (a shared PostgreSQL database) are left to that host.
"""
from __future__ import annotations

import os
import socket

from sqlmodel import col, select

from core.governance import audit
from core.governance.roles import SYSTEM
from core.storage.db import Store
from core.storage.tables import utcnow

INTERRUPTED = "Interrupted: the process running it ended before it finished (stopped, killed or restarted)."


def this_process() -> dict[str, object]:
    """The owner fields of a run started here."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_running(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied
        return False


def fail_orphans(store: Store, table, *, action: str, target_type: str) -> list[int]:
    """Marks this host's running rows of `table` whose process is gone as failed; returns their ids. Looks first and
    writes only when a run died, so every read can call it."""
    host = socket.gethostname()

    def orphaned(row) -> bool:
        return row.status == "running" and row.host == host and not process_running(row.pid)

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
