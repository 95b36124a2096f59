from datetime import timedelta

import pytest
from sqlmodel import select

from core.errors import InvalidInput, PermissionDenied
from core.governance import audit, logins, users
from core.governance.logins import RoleMapping
from core.governance.roles import SYSTEM, Role
from core.storage.tables import LoginSession, User, utcnow
from tests.conftest import PASSWORD


@pytest.mark.postgres
def test_a_login_gives_a_token_that_resumes_until_logout(any_store):
    users.create_user(any_store, actor=SYSTEM, name="dan", role=Role.DATA_SCIENTIST, password=PASSWORD)
    login = logins.log_in(any_store, name="dan", password=PASSWORD)
    assert logins.resume(any_store, login.token).name == "dan"
    logins.log_out(any_store, login.token)
    assert logins.resume(any_store, login.token) is None
    actions = [e.action for e in audit.list_events(any_store, actor=SYSTEM)]
    assert actions[:2] == ["logout", "login"]


def test_only_a_hash_of_the_token_is_stored(store, people):
    login = logins.log_in(store, name="dan", password=PASSWORD)
    with store.read() as session:
        stored = session.exec(select(LoginSession.token_hash)).all()
    assert login.token not in stored and len(stored) == 1


def test_wrong_name_and_wrong_password_get_the_same_answer(store, people):
    for name, password in (("dan", "wrong-password"), ("nobody", PASSWORD)):
        with pytest.raises(PermissionDenied) as caught:
            logins.log_in(store, name=name, password=password)
        assert caught.value.message == "Wrong user name or password."
    with pytest.raises(InvalidInput):
        logins.log_in(store, name="", password="")


def test_sessions_expire(store, people):
    login = logins.log_in(store, name="vic", password=PASSWORD)
    with store.write() as session:
        row = session.exec(select(LoginSession)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert logins.resume(store, login.token) is None


def test_disabling_an_account_ends_its_logins_and_refuses_new_ones(store, people):
    login = logins.log_in(store, name="ann", password=PASSWORD)
    users.set_active(store, actor=people[Role.ADMIN].as_actor(), name="ann", active=False)
    assert logins.resume(store, login.token) is None
    with pytest.raises(PermissionDenied, match="disabled"):
        logins.log_in(store, name="ann", password=PASSWORD)


def test_a_password_change_ends_other_logins(store, people):
    login = logins.log_in(store, name="vic", password=PASSWORD)
    users.set_password(store, actor=people[Role.ADMIN].as_actor(), name="vic", new_password="another-pass-9")
    assert logins.resume(store, login.token) is None
    assert logins.log_in(store, name="vic", password="another-pass-9").user.name == "vic"


def test_repeated_failures_lock_the_account_for_a_while(store, people):
    for _ in range(logins.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDenied):
            logins.log_in(store, name="dan", password="guess-guess")
    with pytest.raises(PermissionDenied, match="Too many failed logins"):
        logins.log_in(store, name="dan", password=PASSWORD)  # even the right password waits
    with store.write() as session:
        user = session.exec(select(User).where(User.name == "dan")).one()
        user.locked_until = utcnow() - timedelta(seconds=1)
        session.add(user)
    assert logins.log_in(store, name="dan", password=PASSWORD).user.name == "dan"
    assert any(e.action == "user.lock" for e in audit.list_events(store, actor=SYSTEM))


def test_sso_mapping_prefers_email_then_the_highest_group_then_the_default():
    mapping = RoleMapping.from_config({
        "emails": {"Boss@Corp.com": "admin"},
        "groups": {"ml-team": "data_scientist", "raters": "annotator"},
        "default_role": "viewer",
    })
    assert mapping.role_for("boss@corp.com", ["raters"]) is Role.ADMIN
    assert mapping.role_for("x@corp.com", ["raters", "ml-team"]) is Role.DATA_SCIENTIST
    assert mapping.role_for("x@corp.com", []) is Role.VIEWER
    assert RoleMapping.from_config({}).role_for("x@corp.com") is None


def test_sso_login_creates_the_account_once_and_follows_mapping_changes(store):
    mapping = RoleMapping.from_config({"groups": {"raters": "annotator"}})
    first = logins.log_in_sso(store, email="Rita@corp.com", display_name="Rita", groups=["raters"], mapping=mapping)
    assert (first.user.name, first.user.role, first.user.auth_provider) == ("Rita", Role.ANNOTATOR, "oidc")
    promoted = RoleMapping.from_config({"emails": {"rita@corp.com": "data_scientist"}})
    second = logins.log_in_sso(store, email="rita@corp.com", display_name="Rita", groups=[], mapping=promoted)
    assert second.user.id == first.user.id and second.user.role is Role.DATA_SCIENTIST
    with pytest.raises(PermissionDenied, match="no workbench role"):
        logins.log_in_sso(store, email="stranger@else.com", display_name=None, groups=[], mapping=mapping)
    with pytest.raises(PermissionDenied):  # an SSO account has no password to log in with
        logins.log_in(store, name="Rita", password="anything-at-all")


def test_failed_logins_lockouts_and_unlocks_leave_audit_rows_without_the_password(store, people):
    admin = people[Role.ADMIN].as_actor()
    with pytest.raises(PermissionDenied):
        logins.log_in(store, name="nobody", password="secret-guess-1")
    for _ in range(logins.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDenied):
            logins.log_in(store, name="dan", password="secret-guess-2")
    with pytest.raises(PermissionDenied):
        logins.log_in(store, name="dan", password=PASSWORD)
    failed = audit.list_events(store, actor=admin, filters=audit.AuditFilter(action="login.failed"))
    assert [(e.actor, e.actor_role, e.target_id) for e in failed][-1] == ("anonymous", "visitor", "nobody")
    assert failed[-1].detail == "no account has this name"
    assert failed[0].detail == "the account is locked"
    assert "wrong password (failed attempt 1 of 5)" in [e.detail for e in failed]
    [lock] = audit.list_events(store, actor=admin, filters=audit.AuditFilter(action="user.lock"))
    assert (lock.target_id, lock.via) == ("dan", "login")
    every_row = audit.list_events(store, actor=admin)
    assert not any("secret-guess" in str(audit.to_row(e)) for e in every_row)

    assert users.get_user(store, "dan").locked
    users.unlock(store, actor=admin, name="dan")
    assert logins.log_in(store, name="dan", password=PASSWORD).user.name == "dan"
    [unlock] = audit.list_events(store, actor=admin, filters=audit.AuditFilter(action="user.unlock"))
    assert (unlock.actor, unlock.actor_role, unlock.via) == ("ada", "admin", None)
    # The filter offers the security actions; "login" alone is the successful login only.
    assert {"login.failed", "user.lock", "user.unlock"} <= set(audit.distinct_values(store, actor=admin)["action"])
    assert {e.action for e in audit.list_events(store, actor=admin, filters=audit.AuditFilter(action="login"))} == {"login"}


def test_a_lock_that_runs_out_is_recorded_as_lifted(store, people):
    for _ in range(logins.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDenied):
            logins.log_in(store, name="vic", password="guess-guess")
    with store.write() as session:
        user = session.exec(select(User).where(User.name == "vic")).one()
        user.locked_until = utcnow() - timedelta(seconds=1)
        session.add(user)
    logins.log_in(store, name="vic", password=PASSWORD)
    [unlock] = audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="user.unlock"))
    assert unlock.via == "login" and "ran out" in unlock.detail
