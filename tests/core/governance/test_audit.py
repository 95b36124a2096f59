from datetime import timedelta

import pytest

from core.errors import PermissionDenied
from core.governance import audit, users
from core.governance.audit import AuditFilter
from core.governance.roles import SYSTEM, Role
from core.storage.tables import utcnow
from tests.conftest import PASSWORD


def test_filters_narrow_by_actor_action_prefix_target_and_time(store, people):
    admin = people[Role.ADMIN].as_actor()
    users.set_role(store, actor=admin, name="vic", role=Role.ANNOTATOR)
    users.set_active(store, actor=admin, name="ann", active=False)
    by_ada = audit.list_events(store, actor=admin, filters=AuditFilter(actor="ada"))
    assert [e.action for e in by_ada] == ["user.disable", "user.set_role"]
    assert len(audit.list_events(store, actor=admin, filters=AuditFilter(action="user."))) == 6
    assert [e.target_id for e in audit.list_events(store, actor=admin, filters=AuditFilter(target_id="vic"))] == ["vic", "vic"]
    future = utcnow() + timedelta(minutes=1)
    assert audit.list_events(store, actor=admin, filters=AuditFilter(since=future)) == []
    assert audit.distinct_values(store, actor=admin)["actor"] == ["ada", "system"]


def test_only_admins_read_the_audit_log(store, people):
    for role in (Role.DATA_SCIENTIST, Role.ANNOTATOR, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            audit.list_events(store, actor=people[role].as_actor())


def test_failed_changes_leave_no_audit_row(store):
    users.create_user(store, actor=SYSTEM, name="once", role=Role.VIEWER, password=PASSWORD)
    before = audit.count_events(store)
    with pytest.raises(Exception):
        users.create_user(store, actor=SYSTEM, name="once", role=Role.VIEWER, password=PASSWORD)
    assert audit.count_events(store) == before


def test_rows_a_job_writes_carry_the_launchers_real_role_and_say_which_process_acted(store, people):
    from core.jobs import queue

    scientist, admin = people[Role.DATA_SCIENTIST].as_actor(), people[Role.ADMIN].as_actor()
    job = queue.submit(store, actor=scientist, kind="finetune", name="audit-check", config={})
    queue.claim(store, job.id, pid=12345, devices=None)  # the worker starts the job's process
    queue.finish(store, job.id, "succeeded")  # the job's process reports its end
    rows = {e.action: e for e in audit.list_events(store, actor=admin, filters=AuditFilter(action="job."))}
    assert {a: (e.actor, e.actor_role, e.via) for a, e in rows.items()} == {
        "job.submit": ("dan", "data_scientist", None),
        "job.running": ("dan", "data_scientist", "worker"),
        "job.succeeded": ("dan", "data_scientist", f"job:{job.id}"),
    }
    assert audit.to_row(rows["job.running"])["via"] == "worker"
    assert queue.launcher_actor(store, queue.get_job(store, actor=admin, job_id=job.id)).via == f"job:{job.id}"


def test_home_recent_activity_is_changes_not_a_list_of_logins(store, people):
    from core import overview
    from core.governance import logins

    admin = people[Role.ADMIN].as_actor()
    users.set_role(store, actor=admin, name="vic", role=Role.ANNOTATOR)
    for _ in range(12):
        logins.log_out(store, logins.log_in(store, name="dan", password=PASSWORD).token)
    actions = [row["action"] for row in overview.recent_activity(store, actor=admin)]
    assert actions[0] == "user.set_role" and not {"login", "logout"} & set(actions)
    assert overview.recent_activity(store, actor=people[Role.VIEWER].as_actor()) == []
