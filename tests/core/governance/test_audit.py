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
